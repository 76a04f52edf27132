"""Typed result documents, defined once: the photo result, the drone analysis summary, the spray-plan summary and a
drone job's parameters. `inference/` builds them; the CLI prints them; the API declares them as `response_model`;
the tests read them. Pydantic only: no web or database code here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from inference.advice_detail import AdviceDetail

PHOTO_RESULT_SCHEMA_VERSION = "1.0"
DRONE_SUMMARY_SCHEMA_VERSION = "1.0"

# A pixel of a damage map is "damaged" from this probability (0-1) on: used by the analysis summary, the previews
# and, as its default, by the spray plan (SprayPlanConfig.damage_threshold_pct = 100 x this).
DAMAGED_THRESHOLD = 0.5


class Bilingual(BaseModel):
    vi: str
    en: str


class ModelRef(BaseModel):
    name: str
    version: str | None = None
    warning: str | None = Field(default=None, description="what the model card says to beware of, when it says so")
    warning_vi: str | None = Field(default=None, description="the same warning in Vietnamese, when the card gives it")


class PhotoInfo(BaseModel):
    format: str = Field(description="JPEG, PNG, WEBP or HEIF")
    width: int = Field(description="pixels of the original photo")
    height: int
    lat: float | None = None
    lon: float | None = None
    taken_at: str | None = Field(default=None, description="EXIF time, ISO 8601")
    device: str | None = Field(default=None, description="the camera's make and model from EXIF, when present")
    kind: str = Field(description="leaf_closeup | field_patch | not_a_plant")


class PhotoQuality(BaseModel):
    ok: bool
    sharpness: float = Field(description="edge-width ratio of the leaf's strongest edges at 300 px short side: about "
                             "1.6 for a sharp photo, under 1.13 is blurry (sqrt(s^2+1)/s for a blur of s px)")
    brightness: float = Field(description="mean HSV value 0-255 of the leaf's pixels (the background does not count)")
    clipped_pct: float = Field(description="share of the leaf's pixels that are clipped white, %")
    issues: list[str] = Field(description="blurry, too_dark, too_bright, not_a_plant, no_colour")
    messages: list[Bilingual]


class Candidate(BaseModel):
    """A disease the photo may show, with what to look at to tell it apart."""

    label: str
    probability: float = Field(description="calibrated probability, 0-1")
    look_for: Bilingual | None = None


class PhotoDiagnosis(BaseModel):
    label: str = Field(description="a class name of the model, or 'unsure'")
    status: str = Field(description="diagnosed | unsure | no_symptom | field_patch | retake")
    confidence: float = Field(description="calibrated probability of the top class, 0-1")
    probabilities: dict[str, float]
    in_distribution: bool
    ood_distance: float
    reason: str | None = None
    candidates: list[Candidate] = Field(default_factory=list, description="when unsure: the two most likely "
                                        "diseases and what to look at; never a single confident name; empty when "
                                        "no lesion patch was found to rank them (reason says so)")
    look_for_other: Bilingual | None = Field(default=None, description="when unsure: signs of what the model does not "
                                             "know (e.g. tungro and its leafhoppers)")


class PhotoSeverity(BaseModel):
    ses: int | None = Field(default=None, description="IRRI SES grade 0-9 of the visible damage")
    affected_pct: float | None = Field(default=None, description="share of leaf area showing lesions, %")
    scale: str | None = None
    segmentation: str | None = Field(
        default=None, description="the lesion segmentation that measured affected_pct: tight (a lesion's own area: "
        "brown spot, blast, and an unsure answer that ranks no disease) or sensitive (also yellowing tissue: "
        "bacterial leaf blight; no symptom; or when tight finds no lesion at all); an unsure answer is measured with "
        "its likeliest disease's; none when no severity is measured (retake, field patch)")


class PhotoGrowth(BaseModel):
    model_config = ConfigDict(extra="allow")
    score: int | None = Field(default=None, description="growth score 0-100")
    method: str | None = Field(default=None, description="leaf_colour (close-up) or canopy_cover (field patch)")
    lcc_level: int | None = Field(default=None, description="leaf_colour: Leaf Colour Chart level 2-5")
    dgci: float | None = Field(default=None, description="leaf_colour: dark green colour index 0-1")
    canopy_cover_pct: float | None = Field(default=None, description="canopy_cover: green canopy, %")


class LeafSummary(BaseModel):
    leaf_fraction: float = Field(description="share of the image that is leaf, 0-1")
    lesion_fraction_of_leaf: float = Field(description="share of the leaf showing lesions, 0-1")
    green_cover_fraction: float = Field(description="share of the image that is green vegetation, 0-1")
    dgci: float | None = Field(default=None, description="dark green colour index of healthy tissue, 0-1")


class PhotoResult(BaseModel):
    """Versioned result document of a scored photo (schema_version 1.0)."""

    model_config = ConfigDict(extra="allow")
    schema_version: str = PHOTO_RESULT_SCHEMA_VERSION
    model: ModelRef
    photo: PhotoInfo
    quality: PhotoQuality
    diagnosis: PhotoDiagnosis
    severity: PhotoSeverity
    growth: PhotoGrowth
    leaf: LeafSummary | None = None
    advice: Bilingual
    advice_detail: AdviceDetail | None = Field(default=None, description="cultural measures, when to spray, active "
                                               "ingredients, pre-harvest interval, protective equipment, what to "
                                               "check and whom to call, each with its cited source")
    timings_ms: dict[str, float] = Field(default_factory=dict)


class IndexStats(BaseModel):
    primary: str
    canopy_threshold: float
    p10: float | None = None
    p50: float | None = None
    p90: float | None = None
    means: dict[str, float | None] = Field(default_factory=dict)


class AnomalyParams(BaseModel):
    median: float
    robust_sd: float
    z_start: float
    z_full: float


# Below this share of the growing area covered, a flight's figures describe a part of the field only: the summary says
# so, and the area's growth series and latest status leave the flight out (api/services/growth.py, area_status.py).
MIN_AREA_COVER_PCT = 50.0


def covers_its_area(summary: dict[str, Any]) -> bool:
    """Whether a stored drone summary speaks for its whole growing area (flights analysed before coverage was
    measured: yes)."""
    pct = summary.get("area_covered_pct")
    return pct is None or float(pct) >= MIN_AREA_COVER_PCT


class DroneSummary(BaseModel):
    """summary.json of an orthomosaic analysis: canopy, growth and damage over the analysed area."""

    model_config = ConfigDict(extra="allow")
    schema_version: str = DRONE_SUMMARY_SCHEMA_VERSION
    sensor: str
    bounds_wgs84: list[float] = Field(description="west, south, east, north (EPSG:4326)")
    crs: str
    width: int
    height: int
    pixel_area_m2: float
    clipped_to_area: bool
    analysed_area_ha: float
    canopy_cover_pct: float = Field(description="0-100")
    growth_score: float = Field(description="0-100")
    damaged_area_ha: float
    damaged_pct: float = Field(description="0-100")
    mean_damage_probability: float = Field(description="0-1")
    index: IndexStats
    damage_method: str = Field(description="model | index_anomaly")
    damage_model: ModelRef | None = None
    damage_pixel_size_m: float | None = Field(
        default=None, description="ground resolution the damage model analysed at (an integer multiple of the "
        "input's pixel size); damage.tif is on the input's grid")
    anomaly: AnomalyParams | None = None
    damage_threshold: float = Field(default=DAMAGED_THRESHOLD, description="damaged from this probability, 0-1")
    seconds: float
    outputs: dict[str, str]
    area_covered_pct: float | None = Field(
        default=None, description="share of the growing area (clipped to it) that valid pixels of the flight cover, "
        "0-100; the figures above describe that part only")
    warnings: list[str] = Field(default_factory=list, description="what the operator should know about this flight")
    notices: list[str] = Field(default_factory=list, description="how the file was read, as codes that pages say in "
                               "their language (the English is in `warnings`): bands_by_tags (bands read in the order "
                               "their colour tags say), band_left_out (a fourth band that is no mask), mostly_black "
                               "(most pixels black in every band)")


class DroneFlightSummary(BaseModel):
    name: str
    max_rate_l_per_ha: float
    flight_time_min: float
    tank_loads: int


class ProductQuantity(BaseModel):
    """How much of the product (not of the mix) a plan needs, from the label's dose at the full spray volume."""

    unit: str
    dose_per_ha: float
    per_litre_of_mix: float
    per_field: float
    per_tank: float | None = None
    blanket_per_field: float


class SprayPlanSummary(BaseModel):
    """What a spray plan treats and saves; litres are of spray mix."""

    model_config = ConfigDict(extra="allow")  # planning_seconds and later additions
    field_area_ha: float
    sprayable_area_ha: float
    excluded_area_ha: float
    treated_area_ha: float
    treated_pct: float
    product_volume_l: float = Field(description="litres of spray mix (water and product); see product_quantity")
    spray_volume_l: float | None = Field(default=None, description="litres of spray mix, the same as "
                                         "product_volume_l")
    blanket_volume_l: float
    saving_pct: float
    zones: int
    treated_zones: int
    heading_deg: float
    cell_size_m: float
    utm_epsg: int
    rate_unit: str = "L/ha"
    product: str | None = None
    product_quantity: ProductQuantity | None = None
    drone: DroneFlightSummary | None = None
    damaged_cells: int | None = Field(default=None, description="swath cells whose damaged share reaches the spot "
                                      "threshold")
    damaged_cells_not_sprayed: int | None = Field(default=None, description="of those, the cells no treated zone "
                                                  "covers (exclusions, the minimum zone area)")
    no_imagery_area_ha: float = Field(default=0.0, description="the part of the field the damage raster holds no "
                                      "valid pixel of: left out of the plan, like an exclusion (counted in "
                                      "excluded_area_ha)")
    warnings: list[str] = Field(default_factory=list, description="what the operator should know before flying")


class RasterCheck(BaseModel):
    """What validation learnt of an orthomosaic, kept with its job so the job does not validate it again."""

    sensor: str
    width: int
    height: int
    count: int
    crs: str
    crs_is_geographic: bool
    transform: list[float]
    nodata: float | None = None
    block_shape: list[int]
    mask_band: bool = False  # validity in a GDAL mask band (an internal .msk, as JPEG-compressed mosaics carry)
    band_map: dict[str, int] | None = None  # band -> position (and "alpha") where the colour tags moved them
    scale: float | None = None  # the pixels' bit depth where the profile reads it from them (scale_from_data)
    notes: list[str] = Field(default_factory=list)  # what the summary must say of how the file was read


class JobParams(BaseModel):
    """Parameters of a drone analysis job, stored with the job."""

    model_config = ConfigDict(extra="allow")
    sensor: str | None = Field(default=None, description="sensor profile; None: guessed from the bands")
    method: str = Field(default="auto", description="auto (the damage model when it fits) | index_anomaly")
    filename: str = "ortho.tif"
    ortho: str | None = Field(default=None, description="path of the stored orthomosaic")
    raster: RasterCheck | None = None


def as_dict(doc: BaseModel | dict[str, Any]) -> dict[str, Any]:
    """A document as a JSON-ready dict (None fields kept, so stored records keep every documented key)."""
    return doc.model_dump(mode="json") if isinstance(doc, BaseModel) else dict(doc)
