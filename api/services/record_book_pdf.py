"""The record book as a PDF in Vietnamese: the area's particulars, its map (boundary and geotagged photos), the growth
chart, the spray table with pre-harvest intervals, and every event. ReportLab with the DejaVu Sans font that ships in
api/data/fonts (Vietnamese diacritics; the text is extractable)."""

from __future__ import annotations

import io
import math
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Circle, Drawing, Line, Polygon, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from shapely.geometry import shape

from api.services.crops import crop_names
from api.services.products import zone
from api.services.record_book import Event, RecordBook, harvest_allowed_from, too_early
from api.services.vi_format import vi_number

FONT_DIR = Path(__file__).resolve().parents[1] / "data" / "fonts"
KIND_VI = {"photo": "Ảnh chụp", "flight": "Bay drone", "observation": "Quan sát", "spray_map": "Bản đồ phun",
           "spray_application": "Phun thuốc"}
STATUS_VI = {"unsure": "chưa chắc chắn", "no_symptom": "không thấy triệu chứng", "field_patch": "ảnh khoảnh ruộng",
             "retake": "cần chụp lại"}


@cache
def fonts() -> tuple[str, str]:
    pdfmetrics.registerFont(TTFont("DejaVu", str(FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont("DejaVu-Bold", str(FONT_DIR / "DejaVuSans-Bold.ttf")))
    return "DejaVu", "DejaVu-Bold"


def _styles() -> dict[str, ParagraphStyle]:
    regular, bold = fonts()
    return {"title": ParagraphStyle("t", fontName=bold, fontSize=16, leading=20, spaceAfter=4),
            "h": ParagraphStyle("h", fontName=bold, fontSize=11.5, leading=15, spaceBefore=10, spaceAfter=4),
            "p": ParagraphStyle("p", fontName=regular, fontSize=9, leading=11.5),
            "small": ParagraphStyle("s", fontName=regular, fontSize=7.5, leading=9.5)}


def render(book: RecordBook, names_vi: dict[str, str], generated: datetime) -> bytes:
    st = _styles()
    a = book.area
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=1.6 * cm, rightMargin=1.6 * cm, topMargin=1.5 * cm,
                            bottomMargin=1.5 * cm, title=f"Nhật ký canh tác {a.code}", author="cropwatch",
                            subject=f"Mã số vùng trồng {a.code}")
    story: list[Any] = [Paragraph("NHẬT KÝ CANH TÁC", st["title"]),
                        Paragraph(f"Mã số vùng trồng: <b>{_x(a.code)}</b> – {_x(a.name)}", st["p"]),
                        Spacer(1, 6), _particulars(book, st), Spacer(1, 6),
                        Table([[_map(book), _growth_chart(book)]], colWidths=[8.6 * cm, 9.2 * cm])]
    story += [Paragraph("Nhật ký phun thuốc bảo vệ thực vật", st["h"]), _spray_table(book, st),
              *_harvest_lines(book, st)]
    story += [Paragraph("Toàn bộ ghi nhận (theo thời gian)", st["h"]), _event_table(book, names_vi, st)]
    if book.refused_photos:
        story.append(Paragraph(f"Không ghi {book.refused_photos} ảnh không đạt chất lượng (tối, mờ hoặc không phải "
                               "cây trồng): nông dân đã được yêu cầu chụp lại.", st["small"]))
    story.append(Paragraph(f"Lập lúc {generated.strftime('%d/%m/%Y %H:%M')} ({book.time_zone}) bởi cropwatch. "
                           "Giờ ghi theo giờ địa phương của vùng trồng.", st["small"]))
    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return buf.getvalue()


def _x(text: Any) -> str:
    return str(text if text is not None else "–").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _footer(canvas: Any, doc: Any) -> None:
    canvas.saveState()
    canvas.setFont(fonts()[0], 7.5)
    canvas.drawRightString(A4[0] - 1.6 * cm, 0.9 * cm, f"Trang {doc.page}")
    canvas.restoreState()


def _grid(rows: list[list[Any]], widths: list[float], header: bool = True) -> Table:
    """A table whose text cells wrap (each becomes a paragraph), the first row bold on green when `header`."""
    regular, bold = fonts()
    cell = ParagraphStyle("cell", fontName=regular, fontSize=7.5, leading=9.2)
    head = ParagraphStyle("head", parent=cell, fontName=bold)
    rows = [[Paragraph(_x(c), head if header and i == 0 else cell) if isinstance(c, str | int | float) else c
             for c in r] for i, r in enumerate(rows)]
    t = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [("FONTNAME", (0, 0), (-1, -1), regular), ("FONTSIZE", (0, 0), (-1, -1), 8),
             ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#9aa89a")), ("VALIGN", (0, 0), (-1, -1), "TOP")]
    if header:
        style += [("FONTNAME", (0, 0), (-1, 0), bold), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e3eedf"))]
    t.setStyle(TableStyle(style))
    return t


def _particulars(book: RecordBook, st: dict[str, ParagraphStyle]) -> Table:
    a = book.area
    owner = (a.owner.full_name or a.owner.username) if a.owner else None
    crop = crop_names().get(a.crop or "", {}).get("vi") or a.crop  # the Vietnamese name of a known crop
    rows = [["Cây trồng", f"{crop}{' – giống ' + a.variety if a.variety else ''}", "Vụ", a.season or "–"],
            ["Ngày gieo sạ", a.sowing_date.strftime("%d/%m/%Y") if a.sowing_date else "–", "Diện tích",
             f"{vi_number(a.area_ha, 2)} ha"],
            ["Xã / huyện", f"{a.commune or '–'} / {a.district or '–'}", "Tỉnh", a.province or "–"],
            ["Chủ hộ", owner or "–", "Hợp tác xã", a.cooperative or "–"]]
    t = _grid(rows, [3 * cm, 6 * cm, 2.6 * cm, 6.2 * cm], False)
    t.setStyle(TableStyle([("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f1f5ef")),
                           ("BACKGROUND", (2, 0), (2, -1), colors.HexColor("#f1f5ef"))]))
    return t


def _map(book: RecordBook, w: float = 8.2 * cm, h: float = 6.4 * cm) -> Drawing:
    """The boundary on a local equal-scale projection, geotagged photos as dots, north up, a scale bar."""
    d = Drawing(w, h)
    geom = shape(book.area.boundary_geojson)
    x0, y0, x1, y1 = geom.bounds
    kx = math.cos(math.radians((y0 + y1) / 2))  # metres per degree of longitude / of latitude
    span = max((x1 - x0) * kx, y1 - y0, 1e-9)
    s = min(w - 20, h - 30) / span

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return 10 + (lon - x0) * kx * s, 20 + (lat - y0) * s

    for poly in getattr(geom, "geoms", [geom]):
        pts = [c for lon, lat in poly.exterior.coords for c in xy(lon, lat)]
        d.add(Polygon(pts, fillColor=colors.HexColor("#cfe8c8"), strokeColor=colors.HexColor("#2f6b2f"),
                      strokeWidth=1))
    for e in book.events:
        if e.kind == "photo" and e.geometry and geom.buffer(1e-3).contains(shape(e.geometry)):
            px, py = xy(*e.geometry["coordinates"])
            d.add(Circle(px, py, 2.4, fillColor=colors.HexColor("#d62728"), strokeColor=colors.white,
                         strokeWidth=0.5))
    m_per_unit = 111_320 / s  # a degree of latitude is about 111.32 km
    bar_m = _round_length((w - 20) / 3 * m_per_unit)  # a round length near a third of the width
    bar = bar_m / m_per_unit
    d.add(Line(10, 8, 10 + bar, 8, strokeWidth=2))
    d.add(String(14 + bar, 5.5, f"{vi_number(bar_m, 2, False)} m", fontName=fonts()[0], fontSize=7))
    d.add(String(w - 14, h - 10, "B ↑", fontName=fonts()[1], fontSize=8, textAnchor="end"))
    return d


def _round_length(m: float) -> float:
    e = 10 ** math.floor(math.log10(max(m, 1e-6)))
    return max(v * e for v in (1, 2, 5) if v * e <= m) if m >= e else e


def _growth_chart(book: RecordBook, w: float = 9 * cm, h: float = 6.4 * cm) -> Drawing:
    d = Drawing(w, h)
    regular = fonts()[0]
    pts = [p for p in book.growth["points"] if p["growth_score"] is not None]
    d.add(String(4, h - 10, "Chỉ số sinh trưởng (0-100)", fontName=fonts()[1], fontSize=8))
    if not pts:
        d.add(String(w / 2, h / 2, "Chưa có ảnh hoặc chuyến bay đạt chất lượng", fontName=regular, fontSize=8,
                     textAnchor="middle"))
        return d
    das = all(p["days_after_sowing"] is not None for p in pts)
    t0 = pts[0]["observed_at"]
    xs = [p["days_after_sowing"] if das else (p["observed_at"] - t0).total_seconds() / 86400 for p in pts]
    lp = LinePlot()
    lp.x, lp.y, lp.width, lp.height = 32, 28, w - 44, h - 50
    lp.data = [list(zip(xs, [p["growth_score"] for p in pts], strict=True))]
    lp.lines[0].strokeColor = colors.HexColor("#2f6b2f")
    lp.lines[0].symbol = None
    lp.joinedLines = 1
    lp.yValueAxis.valueMin, lp.yValueAxis.valueMax, lp.yValueAxis.valueStep = 0, 100, 25
    lp.xValueAxis.valueMin = min(xs + [0])
    lp.xValueAxis.valueMax = max(max(xs), lp.xValueAxis.valueMin + 1)
    for ax in (lp.xValueAxis, lp.yValueAxis):
        ax.labels.fontName, ax.labels.fontSize = regular, 7
    d.add(lp)
    for x, p in zip(xs, pts, strict=True):  # photos and flights as markers
        px = lp.x + (x - lp.xValueAxis.valueMin) / (lp.xValueAxis.valueMax - lp.xValueAxis.valueMin) * lp.width
        py = lp.y + p["growth_score"] / 100 * lp.height
        d.add(Circle(px, py, 2.2, fillColor=colors.HexColor("#1f77b4" if p["source"] == "drone" else "#2f6b2f")))
    d.add(String(lp.x + lp.width / 2, 6, "Ngày sau sạ" if das else "Ngày kể từ ghi nhận đầu", fontName=regular,
                 fontSize=7, textAnchor="middle"))
    return d


def _spray_table(book: RecordBook, st: dict[str, ParagraphStyle]) -> Any:
    if not book.applications:
        return Paragraph("Chưa ghi lần phun thuốc nào.", st["p"])
    rows: list[list[Any]] = [["Ngày giờ", "Thuốc (hoạt chất)", "Số đăng ký", "Liều/ha", "Nước L/ha", "Người phun",
                              "Cách ly (ngày)", "Thu hoạch từ"]]
    for a in book.applications:
        rows.append([a.applied_on.strftime("%d/%m/%Y %H:%M"), f"{a.product} ({a.active_ingredient})",
                     a.registration_number or "–",
                     f"{a.dose_per_ha:g}".replace(".", ",") + f" {a.dose_unit}" if a.dose_per_ha else "–",
                     vi_number(a.water_l_per_ha, 1, False) if a.water_l_per_ha else "–", a.operator,
                     a.phi_days if a.phi_days is not None else "–",
                     a.harvest_allowed_from.strftime("%d/%m/%Y") if a.harvest_allowed_from else "–"])
    widths = [2.2, 3.8, 2.3, 1.6, 1.5, 2.4, 1.6, 2.2]
    return _grid(rows, [v * cm for v in widths])


def _harvest_lines(book: RecordBook, st: dict[str, ParagraphStyle]) -> list[Any]:
    """Under the spray table: the first day harvest is allowed after every recorded spray (not the last row's: an
    earlier spray may have the longer interval), and each spray whose planned harvest falls inside its interval."""
    first = harvest_allowed_from(book)
    if first is None:
        return []
    out = [Spacer(1, 4), Paragraph(f"<b>Được thu hoạch từ ngày {first:%d/%m/%Y}</b> (khi thời gian cách ly của mọi "
                                   "lần phun đã ghi đã hết).", st["p"])]
    for a in book.applications:
        if too_early(a):
            out.append(Paragraph(
                f"<b>Cảnh báo:</b> lần phun {a.applied_on:%d/%m/%Y} ({_x(a.product)}) ghi dự kiến thu hoạch "
                f"{a.planned_harvest_on:%d/%m/%Y}, trước khi hết thời gian cách ly (được thu hoạch từ "
                f"{a.harvest_allowed_from:%d/%m/%Y}).", st["p"]))
    return out


def _vi(e: Event, names_vi: dict[str, str]) -> str:
    v = e.values
    if e.kind == "photo":
        label = v.get("diagnosis")
        what = STATUS_VI.get(label, names_vi.get(label, label)) if label else "–"
        ses = f", SES {v['ses']}" if v.get("ses") is not None else ""
        g = f", sinh trưởng {v['growth_score']}" if v.get("growth_score") is not None else ""
        reviewed = {"confirmed": " (cán bộ đã xác nhận)", "corrected": " (cán bộ đã sửa)",
                    "rejected": " (cán bộ đã loại ảnh)"}.get(str(v.get("review") or "").split(":")[0], "")
        return f"Chẩn đoán: {what}{reviewed}{ses}{g}"
    if e.kind == "flight":
        return (f"Sinh trưởng {v.get('growth_score') or 0:.0f}, che phủ {v.get('canopy_cover_pct') or 0:.0f} %, "
                f"thiệt hại {vi_number(v.get('damaged_pct') or 0)} % diện tích")
    if e.kind == "spray_map":
        return (f"Phun {vi_number(v.get('treated_area_ha') or 0, 2)} ha, tiết kiệm {v.get('saving_pct') or 0:.0f} % so với "
                "phun toàn ruộng")
    if e.kind == "spray_application":
        return (f"{v['product']} ({v['active_ingredient']}), {vi_number(v['volume_l'], 2, False)} L, "
                f"người phun {v['operator']}")
    return e.summary


VI_SHEET_COLUMNS = ["Thời gian", "Loại", "Nội dung", "Mã", "Chẩn đoán", "SES", "Sinh trưởng", "Độ che phủ (%)",
                    "Thiệt hại (%)", "Thuốc", "Hoạt chất", "Số đăng ký", "Liều / ha", "Đơn vị", "Nước (L/ha)",
                    "Lượng phun (L)", "Người phun", "Cách ly (ngày)", "Được thu hoạch từ", "Dự kiến thu hoạch",
                    "Ghi chú", "Kinh độ", "Vĩ độ"]


def vietnamese_rows(book: RecordBook, names_vi: dict[str, str]) -> list[list[Any]]:
    """The record book as the clerk reads it in Excel (the workbook's first sheet): Vietnamese headers, kinds and
    wording (the PDF's), times as real date-times in the area's local time, numbers as numbers."""
    out: list[list[Any]] = []
    for e in book.events:
        v = e.values
        label = v.get("diagnosis")
        what = STATUS_VI.get(label, names_vi.get(label, label)) if label else None
        pt = e.geometry["coordinates"] if e.geometry and e.geometry["type"] == "Point" else (None, None)
        local = e.time.astimezone(zone(book.time_zone)).replace(tzinfo=None)  # a spray logged in another zone too
        out.append([local, KIND_VI.get(e.kind, e.kind), _vi(e, names_vi), e.id, what,
                    v.get("ses"), v.get("growth_score"), v.get("canopy_cover_pct"), v.get("damaged_pct"),
                    v.get("product"), v.get("active_ingredient"), v.get("registration_number"), v.get("dose_per_ha"),
                    v.get("dose_unit"), v.get("water_l_per_ha"), v.get("volume_l"), v.get("operator"),
                    v.get("phi_days"), v.get("harvest_allowed_from"), v.get("planned_harvest_on"), v.get("notes"),
                    pt[0], pt[1]])
    return out


def _event_table(book: RecordBook, names_vi: dict[str, str], st: dict[str, ParagraphStyle]) -> Any:
    if not book.events:
        return Paragraph("Chưa có ghi nhận nào.", st["p"])
    rows: list[list[Any]] = [["Thời gian", "Loại", "Nội dung", "Mã"]]
    for e in book.events:
        rows.append([e.time.strftime("%d/%m/%Y %H:%M"), KIND_VI.get(e.kind, e.kind),
                     _vi(e, names_vi), f"#{e.id}"])
    return _grid(rows, [2.4 * cm, 2.4 * cm, 11.4 * cm, 1.6 * cm])
