"""audit: verify the log (also against a published head), its signed heads and proofs, export, witness."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import typer

from ..audit.against import HeadError
from ..audit.witness import Witness, WitnessError
from .context import acting, overt
from .output import EXIT_ERROR, EXIT_INTEGRITY, EXIT_USAGE, console, fail, print_json

JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    against: Path | None = typer.Option(
        None, "--against", help="A signed head saved earlier (`audit head --json`): the log must extend it."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Check every record, MAC, signed head, the head witness and the state tables; exit 6 on any problem."""
    service = overt(ctx).audit_service
    try:
        head = service.read_head_file(against) if against is not None else None
    except HeadError as exc:
        fail(str(exc), EXIT_USAGE)
    result = service.verify(acting(ctx), against=head)
    data = asdict(result)
    if as_json:
        print_json(data)
    elif result.ok:
        extends = f"; extends the head of size {head['size']}" if head else ""
        console.print(
            f"[green]audit log intact[/green]: {data['records']} records, {data['checkpoints']} signed heads{extends}"
        )
    else:
        for row in result.state[1:]:
            console.print(f"  also: {row}", soft_wrap=True)
    if not as_json:
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)
    if not result.ok:
        where = f" at record {result.first_bad_seq}" if result.first_bad_seq is not None else ""
        fail(f"audit log FAILED verification{where}: {result.problem}", EXIT_INTEGRITY)


@audit_app.command("head")
def audit_head(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """The current signed tree head (signed now if records came after the last one): keep it to check later."""
    head = overt(ctx).audit_service.head()
    if head is None:
        fail("the audit log is empty: there is no head to sign yet")
    if as_json:
        print_json(head)
        return
    console.print(f"size {head['size']}  root {head['root']}\nsigned {head['at']} by key {head['key_id']}")


@audit_app.command("prove")
def audit_prove(
    ctx: typer.Context,
    seq: int = typer.Argument(..., help="The record a report cites."),
    size: int | None = typer.Option(None, "--size", help="The tree size (default: the latest signed head)."),
    as_json: bool = JsonOpt,
) -> None:
    """An inclusion proof: record SEQ is in the tree the signed head of SIZE names."""
    proof = overt(ctx).audit_service.inclusion(seq, size)
    if as_json:
        print_json(proof)
        return
    console.print(f"record {seq} in the tree of {proof['size']} (root {proof['root'][:16]}...):")
    for step in proof["proof"]:
        console.print(f"  {step}")


@audit_app.command("consistency")
def audit_consistency(
    ctx: typer.Context,
    first: int = typer.Argument(..., help="The smaller tree size."),
    second: int = typer.Argument(..., help="The larger tree size."),
    as_json: bool = JsonOpt,
) -> None:
    """A consistency proof: the tree of SECOND records extends the tree of FIRST."""
    proof = overt(ctx).audit_service.consistency(first, second)
    if as_json:
        print_json(proof)
        return
    console.print(f"tree {first} (root {proof['first_root'][:16]}...) -> {second} "
                  f"(root {proof['second_root'][:16]}...):")
    for step in proof["proof"]:
        console.print(f"  {step}")


@audit_app.command("witness")
def audit_witness(
    source: str = typer.Argument(..., help="An installation's public site (https://...) or a saved head file."),
    store: Path = typer.Option(
        Path.home() / ".local" / "share" / "overt-witness" / "default", "--store", help="Where heads and keys are kept."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Fetch the installation's signed head and check it extends the ones kept before; exit 6 if not."""
    try:
        result = Witness(store).check(source)
    except (WitnessError, HeadError) as exc:
        fail(str(exc), EXIT_ERROR)
    if as_json:
        print_json(asdict(result))
    else:
        for note in result.notes:
            console.print(note)
        if result.ok and result.head is not None:
            before = f" (extends {result.previous_size})" if result.previous_size else " (first head kept)"
            console.print(f"[green]consistent[/green]: size {result.head['size']}{before}")
    if not result.ok:
        fail(f"INCONSISTENT: {result.problem}", EXIT_INTEGRITY)


@audit_app.command("export")
def audit_export(
    ctx: typer.Context, out: Path | None = typer.Option(None, "--out", help="File (default stdout).")
) -> None:
    """Write the audit log as JSON lines."""
    result = overt(ctx).system.export_audit(acting(ctx), out if out is not None else sys.stdout)
    if out is not None:
        console.print(f"wrote {result.records} records (to seq {result.last_seq}) to {out}; sha256 {result.sha256}")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")

