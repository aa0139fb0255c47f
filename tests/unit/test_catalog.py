"""Unit tests of the service catalog loader and validator."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import samples
from pantau.core.catalog import (
    Catalog,
    CatalogError,
    CatalogProblem,
    Fee,
    Service,
    catalog_summary,
    load_catalog,
    parse_catalog,
)
from pantau.core.durations import Duration, DurationUnit
from pantau.core.oversight_policy import OversightPolicy

SAMPLE_CATALOG = Path(__file__).resolve().parents[2] / "catalog"
SOURCE = "catalog/x.yaml"
PBG = "services[pbg@kota-malang.dpmptsp]"
PBG_STEPS = (
    "submitted, verified, fee_assessed, paid, approved, issued, rejected, "
    "clarification_requested, clarification_received"
)

CALENDARS_YAML = """\
calendars:
  id-gov:
    timezone: Asia/Jakarta
    weekdays: [mon, tue, wed, thu, fri]
    hours: {mon-thu: "07:30-16:00", fri: "07:30-16:30"}
    holidays: ID
    days_off: [2026-12-24]
agencies:
  - {code: kota-malang.dpmptsp, name: DPMPTSP Kota Malang, calendar: id-gov}
"""

SERVICES_YAML = """\
services:
  - code: nib
    agency: kota-malang.dpmptsp
    name: Pendampingan NIB
    fee: 0
    steps:
      - {code: submitted, start: true}
      - {code: issued, terminal: true}
"""


def catalog_data() -> dict[str, Any]:
    """A fresh copy of the contract's example catalog, to be broken one way per test."""
    return samples.catalog_data(
        samples.pbg_service(),
        calendars={"id-gov": samples.id_gov_calendar(), "always": samples.always_calendar()},
        agencies=[samples.dpmptsp("Dinas Penanaman Modal dan PTSP Kota Malang")],
    )


def pbg(data: dict[str, Any]) -> dict[str, Any]:
    service: dict[str, Any] = data["services"][0]
    return service


def step(data: dict[str, Any], code: str) -> dict[str, Any]:
    return next(s for s in pbg(data)["steps"] if s["code"] == code)


def id_gov(data: dict[str, Any]) -> dict[str, Any]:
    calendar: dict[str, Any] = data["calendars"]["id-gov"]
    return calendar


def problems(data: Any) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(data, SOURCE)
    return [str(problem) for problem in caught.value.problems]


def file_problems(path: Path) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    return [str(problem) for problem in caught.value.problems]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- loading --------------------------------------------------------------------------------


def test_sample_catalog_loads_cleanly() -> None:
    """The catalog/ folder shipped with Pantau is valid and has its agencies and services."""
    catalog = load_catalog(SAMPLE_CATALOG)
    assert {"kota-malang.dpmptsp", "kota-malang.disdukcapil", "kab-sleman.dpmptsp"} <= set(
        catalog.agencies
    )
    assert len(catalog.services) >= 4
    assert {"id-gov", "always"} <= set(catalog.calendars)


def test_sample_catalog_holds_the_contract_example_service() -> None:
    """The sample catalog's pbg of kota-malang.dpmptsp is the contract's example, as loaded,
    plus its own thresholds for the cross-case rules and its fee's assessing step and payment
    channels (optional extensions)."""
    sample = load_catalog(SAMPLE_CATALOG).services[("kota-malang.dpmptsp", "pbg")]
    example = parse_catalog(catalog_data(), SOURCE).services[("kota-malang.dpmptsp", "pbg")]
    assert example.oversight == OversightPolicy()
    assert sample.assessment_steps == frozenset({"fee_assessed"})
    assert sample.payment_channels == frozenset({"bank", "online"})
    steps = tuple(replace(s, assessment=False) for s in sample.steps)
    plain = replace(sample, oversight=example.oversight, steps=steps, payment_channels=None)
    assert plain == example


def test_sample_catalog_covers_free_fixed_and_range_fees() -> None:
    """The sample catalog shows each kind of tariff the contract allows."""
    fees = [service.fee for service in load_catalog(SAMPLE_CATALOG).services.values()]
    assert any(fee.is_free for fee in fees)
    assert any(fee.is_fixed and not fee.is_free for fee in fees)
    assert any(not fee.is_fixed for fee in fees)


def test_id_gov_calendar_has_office_hours_holidays_and_cuti_bersama() -> None:
    """id-gov becomes a CalendarSpec with Mon-Thu and Fri hours, Indonesian holidays, days off."""
    spec = load_catalog(SAMPLE_CATALOG).calendars["id-gov"]
    assert spec.timezone == "Asia/Jakarta"
    assert spec.weekly_hours == {
        0: ((450, 960),),
        1: ((450, 960),),
        2: ((450, 960),),
        3: ((450, 960),),
        4: ((450, 990),),
    }
    assert spec.holiday_country == "ID"
    assert "2026-12-24" in {day.isoformat() for day in spec.days_off}


def test_always_calendar_opens_every_day_until_midnight() -> None:
    """`weekdays: all` with `hours: 00:00-24:00` opens all seven days for the whole day."""
    spec = parse_catalog(catalog_data(), SOURCE).calendars["always"]
    assert spec.weekly_hours == {day: ((0, 1440),) for day in range(7)}
    assert spec.holiday_country is None
    assert spec.days_off == frozenset()


def test_hours_may_list_several_intervals_of_a_day() -> None:
    """A list of 'HH:MM-HH:MM' gives a day several open intervals, e.g. a Friday prayer break."""
    data = catalog_data()
    id_gov(data)["hours"] = {"mon-thu": "07:30-16:00", "fri": ["13:00-16:30", "07:30-11:30"]}
    spec = parse_catalog(data, SOURCE).calendars["id-gov"]
    assert spec.weekly_hours[4] == ((450, 690), (780, 990))


def test_folder_of_two_files_merges(tmp_path: Path) -> None:
    """A folder's files merge: a service in one file may use an agency defined in another."""
    write(tmp_path, "a-calendars.yaml", CALENDARS_YAML)
    write(tmp_path, "b-services.yml", SERVICES_YAML)
    write(tmp_path, "notes.txt", "not part of the catalog")
    catalog = load_catalog(tmp_path)
    service = catalog.service("kota-malang.dpmptsp", "nib")
    assert service is not None
    assert catalog.calendar_of("kota-malang.dpmptsp") == catalog.calendars["id-gov"]


def test_single_file_loads(tmp_path: Path) -> None:
    """A path to one YAML file loads that file alone."""
    path = write(tmp_path, "catalog.yaml", CALENDARS_YAML + SERVICES_YAML)
    assert load_catalog(str(path)).service("kota-malang.dpmptsp", "nib") is not None


def test_duplicate_service_across_files_names_both_files(tmp_path: Path) -> None:
    """The same (agency, code) in two files is reported at the second, naming the first."""
    write(tmp_path, "a.yaml", CALENDARS_YAML + SERVICES_YAML)
    second = write(tmp_path, "b.yaml", SERVICES_YAML)
    assert file_problems(tmp_path) == [
        f"{second}: services[nib@kota-malang.dpmptsp]: duplicate service code 'nib' in agency "
        f"'kota-malang.dpmptsp' (first defined in {tmp_path / 'a.yaml'})"
    ]


def test_duplicate_calendar_across_files(tmp_path: Path) -> None:
    """A calendar id defined in two files is a problem."""
    write(tmp_path, "a.yaml", CALENDARS_YAML + SERVICES_YAML)
    second = write(tmp_path, "b.yaml", CALENDARS_YAML.split("agencies:")[0])
    assert file_problems(tmp_path) == [
        f"{second}: calendars[id-gov]: duplicate calendar 'id-gov' "
        f"(first defined in {tmp_path / 'a.yaml'})"
    ]


def test_missing_path_is_a_problem(tmp_path: Path) -> None:
    """A catalog path that does not exist is reported, not raised as OSError."""
    assert file_problems(tmp_path / "nope") == [f"{tmp_path / 'nope'}: no such file or folder"]


def test_folder_without_yaml_files_is_a_problem(tmp_path: Path) -> None:
    """An empty catalog folder is reported."""
    assert file_problems(tmp_path) == [f"{tmp_path}: no *.yaml or *.yml files here"]


def test_catalog_without_services_is_a_problem() -> None:
    """A catalog that declares no services at all is a misconfiguration."""
    assert problems({}) == [f"{SOURCE}: the catalog declares no services"]


# --- YAML and top level -------------------------------------------------------------------


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    """Broken YAML is a problem naming the file and the line, not a YAMLError."""
    path = write(tmp_path, "x.yaml", "agencies:\n  - code: a\n    name: [unclosed\n")
    (problem,) = file_problems(path)
    assert problem.startswith(f"{path}: YAML syntax error at line 4, column 1: ")


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    """A key repeated in one YAML mapping is an error at its line, not silently overridden."""
    path = write(tmp_path, "x.yaml", CALENDARS_YAML + "agencies: []\n")
    assert file_problems(path) == [
        f"{path}: YAML syntax error at line 10, column 1: duplicate key 'agencies' "
        "(first at line 8)"
    ]


def test_bad_yaml_file_does_not_bury_itself_under_reference_noise(tmp_path: Path) -> None:
    """When a file cannot be parsed, the references into it are not reported as unknown."""
    write(tmp_path, "a.yaml", "calendars: {id-gov: [\n")
    write(tmp_path, "b.yaml", CALENDARS_YAML.split("calendars:")[0] + SERVICES_YAML)
    (problem,) = file_problems(tmp_path)
    assert "YAML syntax error" in problem


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    """A catalog file whose top level is a list is rejected."""
    path = write(tmp_path, "x.yaml", "- code: pbg\n")
    assert file_problems(path) == [
        f"{path}: the catalog must be a mapping with calendars, agencies and services"
    ]


def test_unknown_top_level_key() -> None:
    """A misspelt section name is rejected, listing the known ones."""
    data = catalog_data()
    data["servics"] = []
    assert problems(data) == [
        f"{SOURCE}: unknown top-level key 'servics' (expected: calendars, agencies, services)"
    ]


# --- unknown keys -------------------------------------------------------------------------


def test_unknown_key_in_service() -> None:
    """A misspelt service key is rejected, listing the allowed keys."""
    data = catalog_data()
    pbg(data)["mandtory"] = []
    assert problems(data) == [
        f"{SOURCE}: {PBG}: unknown key 'mandtory' (expected: code, agency, name, fee, steps, "
        "sla, next, mandatory, separate, oversight, deemed_approval, payment_channels)"
    ]


def test_unknown_key_in_step() -> None:
    """A misspelt step key is rejected at that step."""
    data = catalog_data()
    step(data, "verified")["rolse"] = ["verifier"]
    assert problems(data) == [
        f"{SOURCE}: {PBG}.steps[verified]: unknown key 'rolse' (expected: code, start, "
        "terminal, roles, sla, payment, reason_required, clock, assessment)"
    ]


def test_unknown_key_in_agency() -> None:
    """A misspelt agency key is rejected at that agency."""
    data = catalog_data()
    data["agencies"][0]["timezone"] = "Asia/Jakarta"
    assert problems(data) == [
        f"{SOURCE}: agencies[kota-malang.dpmptsp]: unknown key 'timezone' "
        "(expected: code, name, calendar)"
    ]


def test_unknown_key_in_calendar() -> None:
    """A misspelt calendar key is rejected at that calendar."""
    data = catalog_data()
    id_gov(data)["holiday"] = "ID"
    assert problems(data) == [
        f"{SOURCE}: calendars[id-gov]: unknown key 'holiday' "
        "(expected: timezone, weekdays, hours, holidays, days_off)"
    ]


def test_missing_required_key() -> None:
    """A service without a fee is rejected: a free service says `fee: 0`."""
    data = catalog_data()
    del pbg(data)["fee"]
    assert problems(data) == [f"{SOURCE}: {PBG}: missing required key 'fee'"]


# --- codes and references -----------------------------------------------------------------


def test_bad_agency_code() -> None:
    """An agency code outside [a-z0-9][a-z0-9.-]{2,63} is rejected."""
    data = catalog_data()
    data["agencies"].append({"code": "Kota Malang", "name": "x", "calendar": "id-gov"})
    assert problems(data) == [
        f"{SOURCE}: agencies[#2]: bad agency code 'Kota Malang': expected "
        "[a-z0-9][a-z0-9.-]{2,63}"
    ]


def test_bad_service_code() -> None:
    """A service code outside [a-z0-9][a-z0-9_-]{1,63} is rejected."""
    data = catalog_data()
    pbg(data)["code"] = "PBG"
    assert problems(data) == [
        f"{SOURCE}: services[#1]: bad service code 'PBG': expected [a-z0-9][a-z0-9_-]{{1,63}}"
    ]


def test_duplicate_agency_code() -> None:
    """Two agencies with one code are rejected at the second."""
    data = catalog_data()
    data["agencies"].append(dict(data["agencies"][0]))
    assert problems(data) == [
        f"{SOURCE}: agencies[kota-malang.dpmptsp]: duplicate agency code "
        f"'kota-malang.dpmptsp' (first defined in {SOURCE})"
    ]


def test_duplicate_service_code_within_agency() -> None:
    """Two services with one code in one agency are rejected at the second."""
    data = catalog_data()
    data["services"].append(catalog_data()["services"][0])
    assert problems(data) == [
        f"{SOURCE}: {PBG}: duplicate service code 'pbg' in agency 'kota-malang.dpmptsp' "
        f"(first defined in {SOURCE})"
    ]


def test_same_service_code_in_two_agencies_is_fine() -> None:
    """Service codes are unique within an agency only."""
    data = catalog_data()
    data["agencies"].append({"code": "kab-sleman.dpmptsp", "name": "x", "calendar": "id-gov"})
    other = catalog_data()["services"][0]
    other["agency"] = "kab-sleman.dpmptsp"
    data["services"].append(other)
    catalog = parse_catalog(data, SOURCE)
    assert [s.agency for s in catalog.services.values()] == [
        "kota-malang.dpmptsp",
        "kab-sleman.dpmptsp",
    ]


def test_duplicate_step_code() -> None:
    """Two steps with one code in a service are rejected."""
    data = catalog_data()
    pbg(data)["steps"].append({"code": "paid"})
    assert problems(data) == [f"{SOURCE}: {PBG}.steps[paid]: duplicate step code 'paid'"]


def test_service_of_unknown_agency() -> None:
    """A service naming an agency the catalog lacks is rejected, listing the agencies."""
    data = catalog_data()
    pbg(data)["agency"] = "kota-malng.dpmptsp"
    assert problems(data) == [
        f"{SOURCE}: services[pbg@kota-malng.dpmptsp].agency: unknown agency "
        "'kota-malng.dpmptsp' (agencies: kota-malang.dpmptsp)"
    ]


def test_agency_with_unknown_calendar() -> None:
    """An agency naming a calendar the catalog lacks is rejected, listing the calendars."""
    data = catalog_data()
    data["agencies"][0]["calendar"] = "id-gv"
    assert problems(data) == [
        f"{SOURCE}: agencies[kota-malang.dpmptsp].calendar: unknown calendar 'id-gv' "
        "(calendars: always, id-gov)"
    ]


# --- the process of a service -------------------------------------------------------------


def test_unknown_step_as_target_in_next() -> None:
    """A transition to a step the service lacks is rejected, listing the steps."""
    data = catalog_data()
    pbg(data)["next"]["verified"].append("verifed")
    assert problems(data) == [
        f"{SOURCE}: {PBG}.next.verified: unknown step 'verifed' (steps: {PBG_STEPS})"
    ]


def test_unknown_step_as_key_in_next() -> None:
    """A transition from a step the service lacks is rejected, listing the steps."""
    data = catalog_data()
    pbg(data)["next"]["aproved"] = ["issued"]
    assert problems(data) == [f"{SOURCE}: {PBG}.next: unknown step 'aproved' (steps: {PBG_STEPS})"]


def test_no_start_step() -> None:
    """A service without a `start: true` step is rejected."""
    data = catalog_data()
    del step(data, "submitted")["start"]
    assert f"{SOURCE}: {PBG}.steps: no start step: mark the step a case begins with " in "\n".join(
        problems(data)
    )


def test_no_terminal_step() -> None:
    """A service without a `terminal: true` step is rejected."""
    data = catalog_data()
    service = pbg(data)
    service["steps"] = [{"code": "submitted", "start": True}, {"code": "verified"}]
    del service["next"], service["mandatory"], service["separate"]
    assert problems(data) == [
        f"{SOURCE}: {PBG}.steps: no terminal step: mark the steps a case ends with "
        "`terminal: true`",
        f"{SOURCE}: {PBG}.steps: step 'verified' has no successors, so a case reaching it can "
        "never finish (without next, a step is followed only by the step listed after it)",
    ]


def test_terminal_step_with_successors() -> None:
    """A terminal step listed in `next` with successors is rejected."""
    data = catalog_data()
    pbg(data)["next"]["issued"] = ["approved"]
    assert problems(data) == [
        f"{SOURCE}: {PBG}.next.issued: terminal step 'issued' cannot have successors"
    ]


def test_step_without_successors_is_a_dead_end() -> None:
    """A non-terminal step that nothing may follow is rejected: its cases could never finish."""
    data = catalog_data()
    del pbg(data)["next"]["approved"]
    assert problems(data) == [
        f"{SOURCE}: {PBG}.next: step 'approved' has no successors, so a case reaching it can "
        "never finish",
        f"{SOURCE}: {PBG}.next: step 'issued' cannot be reached from a start step",
    ]


def test_unreachable_step() -> None:
    """A step no path from a start step leads to is rejected."""
    data = catalog_data()
    pbg(data)["steps"].append({"code": "withdrawn", "terminal": True, "reason_required": True})
    assert problems(data) == [
        f"{SOURCE}: {PBG}.next: step 'withdrawn' cannot be reached from a start step"
    ]


def test_separate_naming_missing_step() -> None:
    """A `separate` pair naming a step the service lacks is rejected."""
    data = catalog_data()
    pbg(data)["separate"].append(["verified", "signed"])
    assert problems(data) == [
        f"{SOURCE}: {PBG}.separate: unknown step 'signed' (steps: {PBG_STEPS})"
    ]


def test_separate_entry_must_be_a_pair_of_different_steps() -> None:
    """A `separate` entry must be two different steps."""
    data = catalog_data()
    pbg(data)["separate"] = [["verified"], ["paid", "paid"]]
    assert problems(data) == [
        f"{SOURCE}: {PBG}.separate: each entry must be a pair of steps such as "
        "[verified, approved], not ['verified']",
        f"{SOURCE}: {PBG}.separate: a pair needs two different steps, not ['paid', 'paid']",
    ]


def test_mandatory_naming_missing_step() -> None:
    """A `mandatory` step the service lacks is rejected."""
    data = catalog_data()
    pbg(data)["mandatory"].append("inspected")
    assert problems(data) == [
        f"{SOURCE}: {PBG}.mandatory: unknown step 'inspected' (steps: {PBG_STEPS})"
    ]


def test_mandatory_terminal_step() -> None:
    """A terminal step cannot be mandatory: mandatory steps come before successful ends."""
    data = catalog_data()
    pbg(data)["mandatory"].append("issued")
    assert problems(data) == [
        f"{SOURCE}: {PBG}.mandatory: terminal step 'issued' cannot be mandatory: mandatory "
        "steps must happen before a successful terminal step"
    ]


def test_clock_resume_without_stop() -> None:
    """A `clock: resume` step in a service without a `clock: stop` step is rejected."""
    data = catalog_data()
    del step(data, "clarification_requested")["clock"]
    assert problems(data) == [
        f"{SOURCE}: {PBG}.steps[clarification_received]: clock: resume, but no step of the "
        "service has clock: stop"
    ]


def test_clock_stop_without_resume() -> None:
    """A `clock: stop` step in a service without a `clock: resume` step is rejected."""
    data = catalog_data()
    del step(data, "clarification_received")["clock"]
    assert problems(data) == [
        f"{SOURCE}: {PBG}.steps[clarification_requested]: clock: stop, but no step of the "
        "service has clock: resume, so the clock would never restart"
    ]


def test_bad_clock_value() -> None:
    """`clock` accepts only stop or resume."""
    data = catalog_data()
    step(data, "clarification_requested")["clock"] = "pause"
    assert problems(data)[0] == (
        f"{SOURCE}: {PBG}.steps[clarification_requested].clock: clock must be 'stop' or "
        "'resume', not 'pause'"
    )


def test_empty_roles_list() -> None:
    """`roles: []` is rejected: a step open to any officer omits `roles`."""
    data = catalog_data()
    step(data, "verified")["roles"] = []
    assert problems(data) == [
        f"{SOURCE}: {PBG}.steps[verified].roles: roles must be a non-empty list of role names "
        "(omit roles when any officer may do the step), not []"
    ]


def test_invalid_role_name() -> None:
    """A role name that is not a lowercase code is rejected."""
    data = catalog_data()
    step(data, "approved")["roles"] = ["Kepala Dinas"]
    assert problems(data) == [
        f"{SOURCE}: {PBG}.steps[approved].roles: bad role name 'Kepala Dinas': expected "
        "[a-z0-9][a-z0-9_.-]{0,63}"
    ]


def test_non_boolean_flag() -> None:
    """Step flags must be YAML booleans."""
    data = catalog_data()
    step(data, "issued")["terminal"] = "ya"
    assert f"{SOURCE}: {PBG}.steps[issued].terminal: must be true or false, not 'ya'" in problems(
        data
    )


def test_payment_step_in_free_service() -> None:
    """A payment step in a free service contradicts its tariff and is rejected."""
    data = catalog_data()
    pbg(data)["fee"] = 0
    assert problems(data) == [
        f"{SOURCE}: {PBG}.steps[paid]: a payment step in a free service (fee 0): every payment "
        "would be a fee.mismatch"
    ]


def test_an_assessing_step_and_the_payment_channels_are_read() -> None:
    """`assessment: true` marks the step that assesses the fee; `payment_channels` lists the
    channels the service may be paid through; both are optional."""
    data = catalog_data()
    step(data, "fee_assessed")["assessment"] = True
    pbg(data)["payment_channels"] = ["bank", "online"]
    service = parse_catalog(data, SOURCE).service("kota-malang.dpmptsp", "pbg")
    assert service is not None
    assert service.assessment_steps == frozenset({"fee_assessed"})
    assert service.payment_channels == frozenset({"bank", "online"})
    plain = parse_catalog(catalog_data(), SOURCE).service("kota-malang.dpmptsp", "pbg")
    assert plain is not None
    assert plain.assessment_steps == frozenset()
    assert plain.payment_channels is None


@pytest.mark.parametrize(
    ("code", "flags"),
    [("submitted", {}), ("issued", {}), ("paid", {})],
)
def test_an_assessing_step_is_neither_start_nor_end_nor_payment(
    code: str, flags: dict[str, Any]
) -> None:
    """The fee is assessed during the case, at a step of its own, not where it is paid."""
    data = catalog_data()
    step(data, code)["assessment"] = True
    assert problems(data) == [
        f"{SOURCE}: {PBG}.steps[{code}]: an assessing step cannot be a start, terminal or "
        "payment step: the fee is assessed during the case, and paid at a step of its own"
    ]


def test_an_assessing_step_in_a_free_service() -> None:
    """A free service has no fee to assess."""
    data = catalog_data()
    pbg(data)["fee"] = 0
    step(data, "paid")["payment"] = False
    step(data, "fee_assessed")["assessment"] = True
    assert problems(data) == [
        f"{SOURCE}: {PBG}.steps[fee_assessed]: an assessing step in a free service (fee 0): "
        "nothing to assess"
    ]


def test_the_assessment_flag_is_a_boolean() -> None:
    """Like every step flag, `assessment` is a YAML boolean."""
    data = catalog_data()
    step(data, "fee_assessed")["assessment"] = "yes"
    assert problems(data) == [
        f"{SOURCE}: {PBG}.steps[fee_assessed].assessment: must be true or false, not 'yes'"
    ]


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        ([], "must be a non-empty list of bank, online, cash, not []"),
        ("bank", "must be a non-empty list of bank, online, cash, not 'bank'"),
        (["bank", "qris"], "unknown channel 'qris' (channels: bank, online, cash)"),
        (["bank", "bank"], "names a channel twice"),
    ],
)
def test_bad_payment_channels(channels: Any, message: str) -> None:
    """`payment_channels` names each of bank, online and cash at most once."""
    data = catalog_data()
    pbg(data)["payment_channels"] = channels
    assert problems(data) == [f"{SOURCE}: {PBG}.payment_channels: {message}"]


def test_payment_channels_of_a_free_service() -> None:
    """A free service is paid through no channel."""
    data = catalog_data()
    pbg(data)["fee"] = 0
    step(data, "paid")["payment"] = False
    pbg(data)["payment_channels"] = ["bank"]
    assert problems(data) == [
        f"{SOURCE}: {PBG}.payment_channels: a free service (fee 0) is paid through no channel"
    ]


def test_start_step_with_sla() -> None:
    """A start step cannot have an sla: there is no step before it to count from."""
    data = catalog_data()
    step(data, "submitted")["sla"] = "1 working_days"
    assert problems(data) == [
        f"{SOURCE}: {PBG}.steps[submitted].sla: a start step has no step before it to count "
        "its sla from"
    ]


# --- durations and fees -------------------------------------------------------------------


def test_bad_service_sla() -> None:
    """A service sla that is not `<n> <unit>` is rejected with the duration parser's message."""
    data = catalog_data()
    pbg(data)["sla"] = "28 hari kerja"
    assert problems(data) == [
        f"{SOURCE}: {PBG}.sla: bad duration '28 hari kerja': expected '<n> <unit>' with unit one "
        "of working_days, working_hours, days, hours, minutes"
    ]


def test_bad_step_sla() -> None:
    """A step sla with an unknown unit is rejected at that step."""
    data = catalog_data()
    step(data, "approved")["sla"] = "5 workdays"
    assert problems(data) == [
        f"{SOURCE}: {PBG}.steps[approved].sla: bad duration '5 workdays': unknown unit "
        "'workdays'; use one of working_days, working_hours, days, hours, minutes"
    ]


def test_sla_given_as_a_number() -> None:
    """An sla written as a bare number is rejected: the unit is required."""
    data = catalog_data()
    pbg(data)["sla"] = 28
    assert problems(data) == [
        f"{SOURCE}: {PBG}.sla: a duration must be text like '3 working_days', not 28"
    ]


def test_negative_fee() -> None:
    """A negative tariff is rejected."""
    data = catalog_data()
    pbg(data)["fee"] = {"min": -1, "max": 50000000}
    assert problems(data) == [f"{SOURCE}: {PBG}.fee.min: a fee cannot be negative: -1"]


def test_fee_min_above_max() -> None:
    """A tariff range whose min exceeds its max is rejected."""
    data = catalog_data()
    pbg(data)["fee"] = {"min": 500000, "max": 100000}
    assert problems(data) == [f"{SOURCE}: {PBG}.fee: fee min 500000 is more than max 100000"]


def test_fee_that_is_not_a_number() -> None:
    """A tariff that is neither a number nor a range is rejected."""
    data = catalog_data()
    pbg(data)["fee"] = "gratis"
    assert problems(data) == [
        f"{SOURCE}: {PBG}.fee: bad amount 'gratis': expected a number of rupiah"
    ]


@pytest.mark.parametrize(
    ("fee", "expected"),
    [
        (0, Fee(Decimal(0), Decimal(0))),
        (150000, Fee(Decimal(150000), Decimal(150000))),
        ("7500.50", Fee(Decimal("7500.50"), Decimal("7500.50"))),
        ({"min": 100000, "max": 50000000}, Fee(Decimal(100000), Decimal(50000000))),
    ],
)
def test_fee_forms(fee: object, expected: Fee) -> None:
    """`fee: 0` is free, `fee: 150000` fixed, `fee: {min, max}` a range, all as Decimal."""
    data = catalog_data()
    pbg(data)["fee"] = fee
    step(data, "paid")["payment"] = fee != 0  # a free service has no payment step
    assert parse_catalog(data, SOURCE).services[("kota-malang.dpmptsp", "pbg")].fee == expected


def test_fee_allows_amounts_within_the_tariff() -> None:
    """A fee allows amounts within [min, max]; a free service allows only 0."""
    free, fixed = Fee(Decimal(0), Decimal(0)), Fee(Decimal(150000), Decimal(150000))
    ranged = Fee(Decimal(100000), Decimal(50000000))
    assert free.is_free
    assert free.allows(Decimal(0))
    assert not free.allows(Decimal(1))
    assert fixed.is_fixed
    assert fixed.allows(Decimal("150000.00"))
    assert not fixed.allows(Decimal(200000))
    assert ranged.allows(Decimal(100000))
    assert ranged.allows(Decimal(50000000))
    assert not ranged.allows(Decimal(99999))
    assert not ranged.is_fixed
    assert not ranged.is_free


# --- calendars ----------------------------------------------------------------------------


def test_bad_timezone() -> None:
    """A timezone that is not an IANA name is rejected."""
    data = catalog_data()
    id_gov(data)["timezone"] = "WIB"
    assert problems(data) == [
        f"{SOURCE}: calendars[id-gov].timezone: unknown timezone 'WIB': expected an IANA name "
        "such as 'Asia/Jakarta'"
    ]


def test_unknown_weekday_name() -> None:
    """A weekday that is not mon..sun is rejected."""
    data = catalog_data()
    id_gov(data)["weekdays"] = ["mon", "tue", "wed", "thur", "fri"]
    assert problems(data) == [
        f"{SOURCE}: calendars[id-gov].weekdays: unknown weekday 'thur' "
        "(expected: mon, tue, wed, thu, fri, sat, sun)"
    ]


def test_unknown_weekday_in_hours_key() -> None:
    """An hours key naming an unknown weekday is rejected."""
    data = catalog_data()
    id_gov(data)["hours"] = {"senin-kamis": "07:30-16:00", "fri": "07:30-16:30"}
    assert problems(data) == [
        f"{SOURCE}: calendars[id-gov].hours: unknown weekday 'senin' in 'senin-kamis' "
        "(expected: mon, tue, wed, thu, fri, sat, sun, or a range such as mon-thu)"
    ]


def test_backward_weekday_range() -> None:
    """A weekday range must run forward from mon to sun."""
    data = catalog_data()
    id_gov(data)["hours"] = {"thu-mon": "07:30-16:00", "fri": "07:30-16:30"}
    assert problems(data) == [
        f"{SOURCE}: calendars[id-gov].hours: weekday range 'thu-mon' must run forward, mon to sun"
    ]


def test_bad_hours_string() -> None:
    """Hours that are not 'HH:MM-HH:MM' are rejected."""
    data = catalog_data()
    id_gov(data)["hours"]["fri"] = "7.30-16.30"
    assert problems(data) == [
        f"{SOURCE}: calendars[id-gov].hours.fri: bad hours '7.30-16.30': expected "
        "'HH:MM-HH:MM' such as '07:30-16:00'"
    ]


def test_hours_out_of_range_or_backwards() -> None:
    """Hours past 24:00, or ending before they start, are rejected."""
    data = catalog_data()
    id_gov(data)["hours"] = {"mon-thu": "07:30-24:30", "fri": "16:30-07:30"}
    assert problems(data) == [
        f"{SOURCE}: calendars[id-gov].hours.mon-thu: bad hours '07:30-24:30': times run from "
        "00:00 to 23:59, with 24:00 allowed as an end",
        f"{SOURCE}: calendars[id-gov].hours.fri: bad hours '16:30-07:30': the start must be "
        "before the end",
    ]


def test_overlapping_hours() -> None:
    """Open intervals of one day may not overlap."""
    data = catalog_data()
    id_gov(data)["hours"]["fri"] = ["07:30-12:00", "11:00-16:30"]
    assert problems(data) == [
        f"{SOURCE}: calendars[id-gov].hours.fri: bad hours ['07:30-12:00', '11:00-16:30']: "
        "the intervals overlap"
    ]


def test_working_weekday_without_hours() -> None:
    """A working weekday the hours do not cover is rejected."""
    data = catalog_data()
    id_gov(data)["hours"] = {"mon-thu": "07:30-16:00"}
    assert problems(data) == [
        f"{SOURCE}: calendars[id-gov].hours: working weekday 'fri' has no hours"
    ]
    id_gov(data)["weekdays"] = "all"
    assert problems(data) == [
        f"{SOURCE}: calendars[id-gov].hours: working weekdays 'fri', 'sat', 'sun' have no hours"
    ]


def test_hours_for_non_working_weekday() -> None:
    """Hours for a weekday that is not a working weekday are rejected."""
    data = catalog_data()
    id_gov(data)["hours"]["sat"] = "08:00-12:00"
    assert problems(data) == [
        f"{SOURCE}: calendars[id-gov].hours.sat: hours for 'sat', which is not one of the "
        "calendar's weekdays"
    ]


def test_unknown_holiday_country() -> None:
    """A holiday country the `holidays` package does not know is rejected."""
    data = catalog_data()
    id_gov(data)["holidays"] = "INDONESIA"
    assert problems(data) == [
        f"{SOURCE}: calendars[id-gov].holidays: unknown holiday country 'INDONESIA': expected "
        "an ISO country code the `holidays` package knows, such as 'ID'"
    ]


def test_bad_days_off_date() -> None:
    """A day off that is not a real ISO date is rejected."""
    data = catalog_data()
    id_gov(data)["days_off"] = ["2026-02-30", "24-12-2026"]
    assert problems(data) == [
        f"{SOURCE}: calendars[id-gov].days_off: bad date '2026-02-30': expected an ISO date "
        "YYYY-MM-DD such as 2026-12-24",
        f"{SOURCE}: calendars[id-gov].days_off: bad date '24-12-2026': expected an ISO date "
        "YYYY-MM-DD such as 2026-12-24",
    ]


def test_impossible_unquoted_yaml_date_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """An unquoted impossible date in YAML is reported like any bad date."""
    path = write(tmp_path, "x.yaml", CALENDARS_YAML.replace("2026-12-24", "2026-02-30"))
    assert file_problems(path) == [
        f"{path}: calendars[id-gov].days_off: bad date '2026-02-30': expected an ISO date "
        "YYYY-MM-DD such as 2026-12-24"
    ]


# --- all problems at once -----------------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    """Validation goes on after a problem: str(error) lists every problem, one per line."""
    data = catalog_data()
    id_gov(data)["timezone"] = "WIB"
    data["agencies"][0]["calendar"] = "id-gv"
    step(data, "approved")["sla"] = "5 workdays"
    pbg(data)["separate"].append(["verified", "signed"])
    with pytest.raises(CatalogError) as caught:
        parse_catalog(data, SOURCE)
    lines = str(caught.value).splitlines()
    assert len(lines) == 4
    assert lines == [str(problem) for problem in caught.value.problems]
    assert [line.split(": ")[1] for line in lines] == [
        "calendars[id-gov].timezone",
        f"{PBG}.steps[approved].sla",
        f"{PBG}.separate",
        "agencies[kota-malang.dpmptsp].calendar",
    ]


def test_problem_without_entry_names_only_the_file() -> None:
    """A problem of a whole file prints as `file: message`."""
    assert str(CatalogProblem("catalog/x.yaml", "", "boom")) == "catalog/x.yaml: boom"
    assert str(CatalogProblem("c.yaml", "agencies[a]", "boom")) == "c.yaml: agencies[a]: boom"


# --- the loaded model ---------------------------------------------------------------------


@pytest.fixture
def catalog() -> Catalog:
    return parse_catalog(catalog_data(), SOURCE)


@pytest.fixture
def service(catalog: Catalog) -> Service:
    found = catalog.service("kota-malang.dpmptsp", "pbg")
    assert found is not None
    return found


def test_service_steps_and_ends(service: Service) -> None:
    """A service knows its start, terminal and successful terminal steps."""
    assert service.start_steps == {"submitted"}
    assert service.terminal_steps == {"issued", "rejected"}
    assert service.successful_terminal_steps == {"issued"}
    rejected = service.step("rejected")
    assert rejected is not None
    assert rejected.is_rejection
    assert not rejected.is_success
    assert service.step("nope") is None


def test_service_fields_are_parsed(service: Service) -> None:
    """SLAs become Durations, roles and mandatory steps sets, separate pairs tuples."""
    assert service.sla == Duration(28, DurationUnit.WORKING_DAYS)
    verified = service.step("verified")
    assert verified is not None
    assert verified.roles == {"verifier"}
    assert verified.sla == Duration(3, DurationUnit.WORKING_DAYS)
    assert service.mandatory == {"verified", "paid", "approved"}
    assert service.separate == (("verified", "approved"), ("fee_assessed", "paid"))
    stop = service.step("clarification_requested")
    assert stop is not None
    assert stop.clock == "stop"
    assert stop.reason_required


def test_allowed_after_follows_next(service: Service) -> None:
    """allowed_after gives the `next` successors; terminal and unknown steps have none."""
    assert service.allowed_after("paid") == {"approved", "rejected"}
    assert service.allowed_after("issued") == frozenset()
    assert service.allowed_after("nope") == frozenset()
    assert set(service.next) == {s.code for s in service.steps}


def test_absent_next_follows_the_order_of_steps() -> None:
    """Without `next`, each non-terminal step may be followed only by the next one listed."""
    data = catalog_data()
    service = pbg(data)
    service["steps"] = [
        {"code": "submitted", "start": True},
        {"code": "verified"},
        {"code": "approved"},
        {"code": "issued", "terminal": True},
    ]
    del service["next"], service["separate"]
    service["mandatory"] = ["verified"]
    service["fee"] = 0
    loaded = parse_catalog(data, SOURCE).services[("kota-malang.dpmptsp", "pbg")]
    assert dict(loaded.next) == {
        "submitted": {"verified"},
        "verified": {"approved"},
        "approved": {"issued"},
        "issued": frozenset(),
    }


def test_absent_next_with_a_branch_is_rejected() -> None:
    """Without `next`, a rejection listed after the success end cannot be reached."""
    data = catalog_data()
    service = pbg(data)
    service["steps"] = [
        {"code": "submitted", "start": True},
        {"code": "issued", "terminal": True},
        {"code": "rejected", "terminal": True, "reason_required": True},
    ]
    del service["next"], service["separate"], service["mandatory"]
    assert problems(data) == [
        f"{SOURCE}: {PBG}.steps: step 'rejected' cannot be reached from a start step (without "
        "next, a step is followed only by the step listed after it)"
    ]


def test_catalog_lookups(catalog: Catalog) -> None:
    """Catalog finds services by (agency, code), lists an agency's services, gives calendars."""
    assert catalog.service("kota-malang.dpmptsp", "slf") is None
    assert [s.code for s in catalog.services_of("kota-malang.dpmptsp")] == ["pbg"]
    assert catalog.services_of("nope") == []
    agency = catalog.agency("kota-malang.dpmptsp")
    assert agency is not None
    assert agency.calendar == "id-gov"
    assert catalog.calendar_of("nope") is None


def test_catalog_summary_is_json_for_the_agency(catalog: Catalog) -> None:
    """catalog_summary gives the agency, calendar, services and steps as plain JSON data."""
    summary = catalog_summary(catalog, "kota-malang.dpmptsp")
    assert json.loads(json.dumps(summary)) == summary
    assert summary["agency"] == {
        "code": "kota-malang.dpmptsp",
        "name": "Dinas Penanaman Modal dan PTSP Kota Malang",
    }
    assert summary["calendar"]["hours"]["fri"] == ["07:30-16:30"]
    (pbg_summary,) = summary["services"]
    assert pbg_summary["fee"] == {"min": "100000", "max": "50000000"}
    assert pbg_summary["sla"] == "28 working_days"
    assert pbg_summary["next"]["paid"] == ["approved", "rejected"]
    assert pbg_summary["steps"][1] == {
        "code": "verified",
        "start": False,
        "terminal": False,
        "roles": ["verifier"],
        "sla": "3 working_days",
        "sla_from": None,
        "payment": False,
        "reason_required": False,
        "clock": None,
        "assessment": False,
    }
    assert pbg_summary["deemed_approval"] is None
    assert pbg_summary["payment_channels"] is None


def test_catalog_summary_of_unknown_agency(catalog: Catalog) -> None:
    """catalog_summary raises KeyError for an agency the catalog lacks."""
    with pytest.raises(KeyError):
        catalog_summary(catalog, "kota-batu.dpmptsp")


# --- step limits that name their start ------------------------------------------------------


def test_a_step_limit_may_name_the_step_it_is_counted_from() -> None:
    """`sla: {within: .., from: ..}` keeps the duration and the named start."""
    data = catalog_data()
    step(data, "approved")["sla"] = {"within": "20 working_days", "from": "submitted"}
    service = parse_catalog(data, SOURCE).service("kota-malang.dpmptsp", "pbg")
    assert service is not None
    approved = service.step("approved")
    assert approved is not None
    assert (str(approved.sla), approved.sla_from) == ("20 working_days", "submitted")
    verified = service.step("verified")
    assert verified is not None
    assert (str(verified.sla), verified.sla_from) == ("3 working_days", None)


@pytest.mark.parametrize(
    ("sla", "expected"),
    [
        (
            {"within": "5 days", "from": "aproved"},
            "steps[approved].sla.from: unknown step 'aproved' (steps: submitted, verified,",
        ),
        (
            {"within": "5 days", "from": "issued"},
            "steps[approved].sla.from: terminal step 'issued' ends the case: nothing is awaited",
        ),
        (
            {"within": "5 days", "from": "approved"},
            "steps[approved].sla.from: a step's limit cannot be counted from the step itself",
        ),
        ({"from": "submitted"}, "steps[approved].sla: missing required key 'within'"),
        (
            {"within": "5 days", "form": "submitted"},
            "steps[approved].sla: unknown key 'form' (expected: within, from)",
        ),
        (
            {"within": "5 hari", "from": "submitted"},
            "steps[approved].sla.within: bad duration '5 hari'",
        ),
        ({"within": "5 days", "from": 3}, "steps[approved].sla.from: must be a step code, not 3"),
    ],
)
def test_a_named_start_is_checked(sla: dict[str, Any], expected: str) -> None:
    data = catalog_data()
    step(data, "approved")["sla"] = sla
    (problem,) = problems(data)
    assert problem.startswith(f"{SOURCE}: {PBG}.{expected}"), problem
