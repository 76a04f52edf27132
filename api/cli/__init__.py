"""The `cropwatch` command: one module per command group."""

from __future__ import annotations

import typer

from api.cli import areas, datasets, drone, labels, models, photo, products, reports, service, spray

app = typer.Typer(help="cropwatch: crop monitoring for smallholder farms.", no_args_is_help=True)
app.command()(service.serve)
app.command()(service.worker)
app.add_typer(service.db_app, name="db")
app.add_typer(service.sample_app, name="sample")
app.add_typer(areas.app, name="areas")
app.add_typer(models.app, name="models")
app.add_typer(photo.app, name="photo")
app.add_typer(datasets.app, name="datasets")
app.add_typer(labels.app, name="labels")
app.add_typer(drone.app, name="drone")
app.add_typer(spray.app, name="spray")
app.add_typer(products.app, name="products")
app.add_typer(reports.app, name="reports")

__all__ = ["app"]
