"""Traceability stamps: the public page of a growing area (no sign-in, no personal data: no owner, operator,
cooperative, boundary or photo), its QR code (SVG, PNG) and a printable PDF of stamps for a commune's areas.

What a buyer sees: the code and its status, crop, variety, commune, district, province, season, sowing date, area,
and each spray application with its product, active ingredient, registration number, pre-harvest interval and
whether that interval is over today."""

from __future__ import annotations

import html
import io
from datetime import date, datetime, timedelta
from typing import Any

import segno
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.orm import AreaStatus, GrowingArea
from api.services import products
from api.services.crops import bilingual
from api.services.record_book_pdf import fonts
from api.services.spray_maps import list_applications
from api.services.vi_format import vi_number
from api.settings import get_settings
from inference.errors import Conflict, NotFound

STATUS_VI = {AreaStatus.active: "Đang hiệu lực", AreaStatus.suspended: "Tạm dừng", AreaStatus.revoked: "Đã thu hồi"}


PUBLIC_SPRAY_FIELDS = ("applied_on", "product", "active_ingredient", "registration_number", "phi_days",
                       "harvest_allowed_from")  # never the operator or the notes


def phi_status(harvest_allowed_from: date | None, today: date) -> str:
    if harvest_allowed_from is None:
        return "Không ghi thời gian cách ly"
    if today >= harvest_allowed_from:
        return f"Đã hết thời gian cách ly (được thu hoạch từ {harvest_allowed_from:%d/%m/%Y})"
    return f"Còn trong thời gian cách ly: được thu hoạch từ {harvest_allowed_from:%d/%m/%Y}"


def find_area(session: Session, code: str) -> GrowingArea:
    """The area of a code as a buyer types or scans it (spaces around it and lower case are forgiven, as the API
    forgives them)."""
    area = session.scalar(select(GrowingArea).where(GrowingArea.code == code.strip().upper()))
    if area is None:
        raise NotFound(f"no growing area has the code {code}; check the code printed on the stamp")
    return area


def stamp_area(session: Session, code: str) -> GrowingArea:
    """The area a QR stamp is made for: no stamp for a revoked code (409)."""
    area = find_area(session, code)
    if area.status is AreaStatus.revoked:
        raise Conflict(f"area {area.code} is revoked: no stamp is made for a revoked code (its public page says so)")
    return area


def public_record(session: Session, area: GrowingArea, today: date | None = None) -> dict[str, Any]:
    """The page's content as data (also served as JSON): nothing that names or locates a person."""
    tz = products.zone(get_settings().time_zone)
    today = today or datetime.now(tz).date()
    sprays = [{**a.model_dump(include=set(PUBLIC_SPRAY_FIELDS)), "phi_status": phi_status(a.harvest_allowed_from, today)}
              for a in list_applications(session, area)]  # newest first
    pending = [s["harvest_allowed_from"] for s in sprays
               if s["harvest_allowed_from"] and s["harvest_allowed_from"] > today]
    return {"code": area.code, "status": area.status.value, "crop": area.crop, "variety": area.variety,
            "commune": area.commune, "district": area.district, "province": area.province, "season": area.season,
            "sowing_date": area.sowing_date, "area_ha": round(area.area_ha, 2), "today": today,
            "harvest_allowed_from": max(pending) if pending else None,
            "sprays": sprays}


def page_html(rec: dict[str, Any], base: str) -> str:
    e = html.escape
    status = STATUS_VI[AreaStatus(rec["status"])]
    ok = rec["harvest_allowed_from"] is None
    heads = ["Ngày giờ", "Thuốc", "Hoạt chất", "Số đăng ký", "Cách ly (ngày)", "Tình trạng"]
    rows = "".join(
        "<tr>" + "".join(f'<td data-h="{h}">{v}</td>' for h, v in zip(heads, (
            f"{s['applied_on']:%d/%m/%Y %H:%M}", e(s["product"]), e(s["active_ingredient"]),
            e(s["registration_number"] or "–"), s["phi_days"] if s["phi_days"] is not None else "–",
            e(s["phi_status"])), strict=True)) + "</tr>" for s in rec["sprays"]) or \
        '<tr><td colspan="6">Chưa ghi lần phun thuốc nào / no spray recorded</td></tr>'
    facts = [("Mã số vùng trồng / Area code", rec["code"]), ("Tình trạng mã số / Status", status),
             ("Cây trồng / Crop", bilingual(rec["crop"])), ("Giống / Variety", rec["variety"]),
             ("Vụ / Season", rec["season"]),
             ("Ngày gieo sạ / Sown", rec["sowing_date"].strftime("%d/%m/%Y") if rec["sowing_date"] else None),
             ("Diện tích / Area", f"{vi_number(rec['area_ha'], 2)} ha"), ("Xã / Commune", rec["commune"]),
             ("Huyện / District", rec["district"]), ("Tỉnh / Province", rec["province"])]
    dl = "".join(f"<dt>{e(k)}</dt><dd>{e(str(v)) if v else '–'}</dd>" for k, v in facts)
    verdict = ("Không còn lần phun nào trong thời gian cách ly hôm nay." if ok else
               f"Chưa được thu hoạch: thời gian cách ly còn đến hết ngày "
               f"{rec['harvest_allowed_from'] - timedelta(days=1):%d/%m/%Y}; được thu hoạch từ ngày "
               f"{rec['harvest_allowed_from']:%d/%m/%Y}.")
    if rec["status"] != AreaStatus.active.value:  # a buyer must not read a revoked code's page as a clean record
        ok = False
        verdict = (f"Mã số vùng trồng này {STATUS_VI[AreaStatus(rec['status'])].lower()}: sản phẩm mang mã này không "
                   f"còn được bảo đảm theo mã. / This planting-area code is {rec['status']}: produce under it is no "
                   f"longer vouched for by it. " + verdict)
    return f"""<!doctype html><html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Truy xuất {e(rec['code'])}</title>
<style>body{{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f3f6f1;color:#1d2a1d}}
header{{background:#2f6b2f;color:#fff;padding:10px 14px}}main{{padding:12px;max-width:860px;margin:auto}}
.card{{background:#fff;border-radius:10px;padding:12px;margin-bottom:10px;box-shadow:0 1px 3px #0001}}
dl{{display:grid;grid-template-columns:auto 1fr;gap:3px 12px}}dt{{color:#456}}dd{{margin:0;font-weight:600}}
table{{border-collapse:collapse;width:100%;font-size:.9rem}}
td,th{{border-bottom:1px solid #dde5da;padding:4px;text-align:left}}
.ok{{color:#1a7a3a;font-weight:700}}.wait{{color:#b00020;font-weight:700}}img{{width:120px}}
dd,td{{overflow-wrap:anywhere}}
@media (max-width:600px){{thead{{display:none}}table,tbody,tr,td{{display:block}}tr{{border-bottom:1px solid #dde5da;
padding:4px 0}}td{{border:0;padding:1px 4px;display:grid;grid-template-columns:8.5em 1fr;gap:8px}}
td[data-h]::before{{content:attr(data-h);color:#456}}td[colspan]{{display:block}}}}</style></head>
<body><header><b>Truy xuất nguồn gốc vùng trồng</b> · Traceability</header><main>
<section class="card"><dl>{dl}</dl></section>
<section class="card"><p class="{'ok' if ok else 'wait'}">{e(verdict)}</p>
<h2>Nhật ký phun thuốc / Spray log</h2><table><thead><tr>{"".join(f"<th>{h}</th>" for h in heads)}</tr></thead>
<tbody>{rows}</tbody></table></section>
<section class="card"><img src="{e(base)}/trace/{e(rec['code'])}/qr.svg" alt="QR">
<p>Thông tin do cropwatch công bố ngày {rec['today']:%d/%m/%Y}; không chứa thông tin cá nhân.</p></section>
</main></body></html>"""


def not_found_html(code: str, reason: str) -> str:
    e = html.escape
    return (f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>Không tìm thấy {e(code)}</title></head>'
            f'<body style="font:16px system-ui,sans-serif;padding:16px"><h1>Không tìm thấy mã số vùng trồng '
            f'{e(code)}</h1><p>Hãy kiểm tra mã in trên tem. / {e(reason)}</p></body></html>')


def trace_url(base: str, code: str) -> str:
    return f"{base.rstrip('/')}/trace/{code}"


def qr_svg(url: str) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=6, border=2, title=url)
    return buf.getvalue()


def qr_png(url: str) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=8, border=2)
    return buf.getvalue()


def stamps_pdf(areas: list[GrowingArea], base: str, title: str) -> bytes:
    """A4 sheets of stamps, 3 x 5 per page: QR code, code, crop and variety, commune."""
    if not areas:
        raise NotFound("no area to print stamps for: check the commune's name (as recorded on the areas)")
    regular, bold = fonts()
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle(title)
    w, h, cols, rows = 60 * mm, 55 * mm, 3, 5
    x0, y0 = (A4[0] - cols * w) / 2, A4[1] - 12 * mm
    for i, a in enumerate(areas):
        if i and i % (cols * rows) == 0:
            c.showPage()
        col, row = i % cols, (i // cols) % rows
        x, y = x0 + col * w, y0 - (row + 1) * h
        c.setStrokeColorRGB(0.7, 0.75, 0.7)
        c.roundRect(x + 2 * mm, y + 2 * mm, w - 4 * mm, h - 4 * mm, 3 * mm)
        qr = QrCodeWidget(trace_url(base, a.code), barLevel="M")
        b = qr.getBounds()
        size = 34 * mm
        d = Drawing(size, size, transform=[size / (b[2] - b[0]), 0, 0, size / (b[3] - b[1]), 0, 0])
        d.add(qr)
        renderPDF.draw(d, c, x + (w - size) / 2, y + h - size - 4 * mm)
        c.setFont(bold, 9)
        c.drawCentredString(x + w / 2, y + 12 * mm, a.code)
        c.setFont(regular, 7.5)
        c.drawCentredString(x + w / 2, y + 8.5 * mm, f"{a.crop}{' ' + a.variety if a.variety else ''} · "
                                                     f"{a.commune or ''}"[:48])
        c.drawCentredString(x + w / 2, y + 5 * mm, "Quét để truy xuất nguồn gốc")
    c.save()
    return buf.getvalue()
