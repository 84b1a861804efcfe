"""`edgesim data`: the real data a fresh clone lacks (see :mod:`edgesim.shared_data`)."""
from __future__ import annotations

import click

from edgesim.errors import UserError


@click.group()
def data() -> None:
    """Real traces, videos and data sets: list them, fetch them from their source, find them."""


@data.command("list")
def list_() -> None:
    """What can be fetched, its licence, and whether it is already here."""
    from edgesim.shared_data import SOURCES, status
    for name, src in SOURCES.items():
        if src.derived:
            state = "derived (not downloadable)"
        else:
            found = [where for _p, where in status(name)]
            state = "here" if all(found) else ("partly here" if any(found) else "not here")
        click.echo(f"{name:<20} {state:<27} {src.what}  [{src.licence}]")


@data.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="download again even where a copy is found")
def fetch(name: str, force: bool) -> None:
    """Download NAME from its original source into the user cache, checking every file."""
    from edgesim.shared_data import cache_root, fetch as do_fetch
    try:
        paths = do_fetch(name, progress=lambda s: click.echo(s, err=True), force=force)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    for p in paths:
        click.echo(str(p))
    click.echo(f"(cache: {cache_root()}; scenarios find these through their shared: paths)",
               err=True)


@data.command()
@click.argument("name")
def path(name: str) -> None:
    """Print where NAME's files are (exit 1 if any is missing: `edgesim data fetch NAME`)."""
    from edgesim.shared_data import status
    try:
        found = status(name)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    missing = [rel for rel, where in found if where is None]
    for rel, where in found:
        click.echo(str(where) if where else f"missing: {rel}")
    if missing:
        click.echo(f"run `edgesim data fetch {name}` to download what is missing", err=True)
        raise SystemExit(1)
