from ninja import Schema


class PlaceOut(Schema):
    id: int
    name: str
    lat: float | None = None
    lng: float | None = None
    kind: str | None = None
    code: str | None = None
    address: str | None = None
    road_class: str | None = None
    grid_id: int | None = None
    compound_id: int | None = None
    residents_committee_id: int | None = None
    geometry: dict | None = None


class LocateOut(Schema):
    lat: float
    lng: float
    grid_id: int | None
    grid_code: str | None
    grid_name: str | None
    address: str  # the nearest building's or shop's address within 150 m, or "" (what an intake would fill in)
