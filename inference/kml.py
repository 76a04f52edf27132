"""KML of a spray plan that Google Earth, QGIS and GDAL (with or without libkml) read alike.

One document with three folders (GDAL reads each as a layer): `spray_zones` (typed attributes in a KML Schema, a
description table for readers that show only text, a fill colour by rate class, the colours of the operator's map
legend), `field_boundary` and `exclusions` (the buffered areas never sprayed). Coordinates in EPSG:4326, outer rings
counter-clockwise, 7 decimals (about 1 cm).
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from inference.geo import to_wgs84_valid
from inference.zones import NamedExclusion, SprayPlan, named_exclusions

KML_NS = "http://www.opengis.net/kml/2.2"
SCHEMA = [("zone_id", "int"), ("rate", "double"), ("unit", "string"), ("rate_class", "string"),
          ("area_ha", "double"), ("damaged_fraction", "double")]
# (R, G, B, alpha) of the map legend: no spraying, spot, full; the boundary and the exclusions
CLASS_RGBA = {"none": (183, 225, 176, 110), "spot": (255, 180, 30, 170), "full": (255, 40, 0, 170)}
BOUNDARY_RGBA = (31, 95, 31, 255)
EXCLUSION_RGBA = (21, 101, 192, 110)


def kml_colour(r: int, g: int, b: int, a: int) -> str:
    """KML's aabbggrr hex."""
    return f"{a:02x}{b:02x}{g:02x}{r:02x}"


def continuous_rgba(rate: float, top: float) -> tuple[int, int, int, int]:
    """A continuous rate between the spot and the full colours, as the operator's map shades it."""
    if rate <= 0:
        return CLASS_RGBA["none"]
    x = 0.25 + 0.75 * min(rate / top, 1.0) if top > 0 else 1.0
    return 255, round(220 * (1 - x) + 40 * x), round(40 * (1 - x)), 170


def _style(parent: ET.Element, sid: str | None, fill: tuple[int, int, int, int], line: tuple[int, int, int, int],
           width: float, filled: bool = True) -> ET.Element:
    st = ET.SubElement(parent, "Style", id=sid) if sid else ET.SubElement(parent, "Style")
    ls = ET.SubElement(st, "LineStyle")
    ET.SubElement(ls, "color").text = kml_colour(*line)
    ET.SubElement(ls, "width").text = f"{width:g}"
    ps = ET.SubElement(st, "PolyStyle")
    ET.SubElement(ps, "color").text = kml_colour(*fill)
    ET.SubElement(ps, "fill").text = "1" if filled else "0"
    return st


def _ring(parent: ET.Element, tag: str, coords: Any) -> None:
    lr = ET.SubElement(ET.SubElement(parent, tag), "LinearRing")
    ET.SubElement(lr, "coordinates").text = " ".join(f"{x:.7f},{y:.7f}" for x, y, *_ in coords)


def _geometry(parent: ET.Element, geom: Any) -> None:
    polys = list(getattr(geom, "geoms", [geom]))
    holder = ET.SubElement(parent, "MultiGeometry") if len(polys) > 1 else parent
    for p in polys:
        pe = ET.SubElement(holder, "Polygon")
        _ring(pe, "outerBoundaryIs", p.exterior.coords)
        for hole in p.interiors:
            _ring(pe, "innerBoundaryIs", hole.coords)


def _placemark(folder: ET.Element, name: str, geom: Any, style_url: str | None = None,
               description: str | None = None) -> ET.Element:
    pm = ET.SubElement(folder, "Placemark")
    ET.SubElement(pm, "name").text = name
    if description:
        ET.SubElement(pm, "description").text = description
    if style_url:
        ET.SubElement(pm, "styleUrl").text = style_url
    return pm


def _folder(doc: ET.Element, name: str) -> ET.Element:
    f = ET.SubElement(doc, "Folder")
    ET.SubElement(f, "name").text = name
    return f


def plan_kml(plan: SprayPlan, title: str = "spray_zones", typed: bool = True) -> str:
    """The KML text of a `SprayPlan`. `typed`: attributes as SchemaData of the document's Schema (GDAL reads them as
    integers and reals); else as untyped Data (text), which GDAL's libkml reader finds inside a KMZ where it does not
    resolve the Schema."""
    crs = f"EPSG:{plan.utm_epsg}"
    root = ET.Element("kml", xmlns=KML_NS)
    doc = ET.SubElement(root, "Document")
    ET.SubElement(doc, "name").text = title
    if typed:
        schema = ET.SubElement(doc, "Schema", name="spray_zones", id="spray_zones")
        for n, t in SCHEMA:
            ET.SubElement(schema, "SimpleField", name=n, type=t)
    for cls, rgba in CLASS_RGBA.items():
        _style(doc, f"rate_{cls}", rgba, (85, 85, 85, 255), 1)
    _style(doc, "field_boundary", (0, 0, 0, 0), BOUNDARY_RGBA, 3, filled=False)
    _style(doc, "exclusion", EXCLUSION_RGBA, (21, 101, 192, 255), 2)
    top = max((z.rate_l_per_ha for z in plan.zones), default=0.0)
    zones = _folder(doc, "spray_zones")
    for z in plan.zones:
        g = to_wgs84_valid(z.geometry_utm, crs)
        if g.is_empty:
            continue
        values = z.properties()
        desc = "<table>" + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in values.items()) + "</table>"
        pm = _placemark(zones, f"zone {z.zone_id}: {values['rate']:g} L/ha", g,
                        f"#rate_{z.rate_class}" if z.rate_class in CLASS_RGBA else None, desc)
        if z.rate_class not in CLASS_RGBA:  # continuous rates: their own shade
            _style(pm, None, continuous_rgba(z.rate_l_per_ha, top), (85, 85, 85, 255), 1)
        ext = ET.SubElement(pm, "ExtendedData")
        if typed:
            sd = ET.SubElement(ext, "SchemaData", schemaUrl="#spray_zones")
            for n, _ in SCHEMA:
                ET.SubElement(sd, "SimpleData", name=n).text = str(values[n])
        else:
            for n, _ in SCHEMA:
                ET.SubElement(ET.SubElement(ext, "Data", name=n), "value").text = str(values[n])
        _geometry(pm, g)
    boundary = _folder(doc, "field_boundary")
    b = to_wgs84_valid(plan.boundary_utm, crs)
    _geometry(_placemark(boundary, f"field, {plan.boundary_utm.area / 1e4:.4f} ha", b, "#field_boundary"), b)
    if not plan.exclusions_utm.is_empty:  # each no-spray area by its name (a pond, a house, a canal)
        exclusions = _folder(doc, "exclusions")
        for x in named_exclusions(plan):
            e = to_wgs84_valid(x.geometry_utm, crs)
            if not e.is_empty:  # no <coordinates /> placemark for a part too small to draw
                _geometry(_placemark(exclusions, exclusion_label(x), e, "#exclusion"), e)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def features_kml(title: str, features: list[tuple[str, Any, dict[str, Any]]]) -> str:
    """KML of named polygons (EPSG:4326) with typed attributes in a KML Schema (GDAL reads them as fields), in one
    folder named `title`: e.g. growing areas."""
    root = ET.Element("kml", xmlns=KML_NS)
    doc = ET.SubElement(root, "Document")
    ET.SubElement(doc, "name").text = title
    names = list(features[0][2]) if features else []
    schema = ET.SubElement(doc, "Schema", name=title, id=title)
    for n in names:
        kind = "double" if any(isinstance(f[2][n], float) for f in features) else "string"
        ET.SubElement(schema, "SimpleField", name=n, type=kind)
    _style(doc, "area", (120, 200, 110, 90), BOUNDARY_RGBA, 1.5)
    folder = _folder(doc, title)
    for name, geom, attrs in features:
        pm = _placemark(folder, name, geom, "#area")
        sd = ET.SubElement(ET.SubElement(pm, "ExtendedData"), "SchemaData", schemaUrl=f"#{title}")
        for n in names:
            if attrs[n] is not None:
                ET.SubElement(sd, "SimpleData", name=n).text = str(attrs[n])
        _geometry(pm, geom)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def exclusion_label(x: NamedExclusion) -> str:
    """"Ao cá: no spraying (water, 30 m buffer)"; the field without imagery: "no imagery: no spraying"."""
    if x.kind == "no_imagery":
        return "no imagery: no spraying (fly it again to plan it)"
    buffer = f", {x.buffer_m:g} m buffer" if x.buffer_m > 0 else ""
    return f"{x.name}: no spraying ({x.kind.replace('_', ' ')}{buffer})"
