"""The rule table: every rule's id, category, severity, kind, and its words in two languages.

This is the shared half of the rulebook. It is pure data that every process may read: the alert
model checks a category against it, the alerts service shows each rule's title and message in
Bahasa Indonesia or English, the simulator plants and the documentation lists the rules it
names. The other half, each rule's detector, is the tracker's (`pantau_tracker.domain.rulebook`,
one module per rule family), which binds itself to these rows; a test holds the two halves to
one another (every row has exactly one detector, a planter and a scenario test).

A message template is text with `{placeholders}` filled from the alert: its `step`,
`officer_id`, `occurred_at`, `case_id`, `service`, `agency`, the last of its `event_ids` as
`event_id`, and every member of its evidence. A rule may give several templates for the cases
its alerts differ in; the first whose placeholders the alert fills is used.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

__all__ = [
    "LANGUAGES",
    "RULES",
    "Category",
    "Kind",
    "Language",
    "Rule",
    "RuleInfo",
    "Severity",
    "Table",
    "Texts",
    "placeholders",
    "render_message",
    "rules_of",
]

Language = Literal["id", "en"]
LANGUAGES: tuple[Language, ...] = ("id", "en")


class Severity(StrEnum):
    """How urgently an operator should look at an alert."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Category(StrEnum):
    """The Ombudsman RI forms of maladministration, plus `integrity` of the data itself."""

    UNDUE_DELAY = "undue_delay"
    PROCEDURE_DEVIATION = "procedure_deviation"
    IMPROPRIETY = "impropriety"
    ABUSE_OF_AUTHORITY = "abuse_of_authority"
    IMPROPER_REQUEST = "improper_request"
    DISCRIMINATION = "discrimination"
    INTEGRITY = "integrity"


class Rule(StrEnum):
    """The rule ids of the contract's rule table, then the cross-case rules that extend it
    (docs/contract-extensions.md)."""

    SLA_STEP_OVERDUE = "sla.step_overdue"
    SLA_CASE_OVERDUE = "sla.case_overdue"
    PROCESS_INVALID_TRANSITION = "process.invalid_transition"
    PROCESS_SKIPPED_STEP = "process.skipped_step"
    PROCESS_AFTER_TERMINAL = "process.after_terminal"
    PROCESS_UNKNOWN_CASE = "process.unknown_case"
    PROCESS_REASON_MISSING = "process.reason_missing"
    DUTY_SAME_OFFICER = "duty.same_officer"
    DUTY_ROLE_NOT_ALLOWED = "duty.role_not_allowed"
    FEE_MISMATCH = "fee.mismatch"
    TIME_BACKDATED = "time.backdated"
    TIME_FUTURE = "time.future"
    TIME_OUT_OF_ORDER = "time.out_of_order"
    INTEGRITY_CONFLICTING_DUPLICATE = "integrity.conflicting_duplicate"
    QUEUE_JUMP = "queue.jump"
    SPEED_TOO_FAST = "speed.too_fast"
    OFFICER_BURST = "officer.burst"
    APPLICANT_BROKER = "applicant.broker"
    SLA_CLOCK_RESET_ABUSE = "sla.clock_reset_abuse"
    TIME_OFF_HOURS = "time.off_hours"
    CITIZEN_REPORT = "citizen.report"
    SLA_DEEMED_APPROVAL_NEAR = "sla.deemed_approval_near"
    SLA_DEEMED_APPROVED = "sla.deemed_approved"
    PROCESS_AFTER_DEEMED_APPROVAL = "process.after_deemed_approval"
    FEE_PAID_TWICE = "fee.paid_twice"
    FEE_PAID_BEFORE_ASSESSMENT = "fee.paid_before_assessment"
    FEE_NO_RECEIPT = "fee.no_receipt"
    FEE_CASH_TO_OFFICER = "fee.cash_to_officer"


class Kind(StrEnum):
    """What makes a rule look: one case's event, its peers, a clock, or a person."""

    PER_CASE = "per-case"  # an event judged against its own case
    CROSS_CASE = "cross-case"  # an event judged against other cases, or the case's own pattern
    TIMER = "timer-driven"  # a deadline that passed, noticed by a timer or by a later event
    REPORTED = "reported"  # an applicant's own report (the status page), not a detector's


class Table(StrEnum):
    """Which table of the documentation lists a rule: the contract's, or one of its extensions
    (docs/contract-extensions.md)."""

    CONTRACT = "contract"
    CROSS_CASE = "cross-case"
    CITIZEN = "citizen"
    DEEMED_APPROVAL = "deemed-approval"
    FEE = "fee"


@dataclass(frozen=True)
class Texts:
    """One text in Bahasa Indonesia (`id`) and English (`en`)."""

    id: str
    en: str

    def __call__(self, language: Language) -> str:
        """The text in `language`."""
        return self.id if language == "id" else self.en


@dataclass(frozen=True)
class RuleInfo:
    """A row of the rule table: the category the contract fixes, our default severity, what
    makes the rule look, its title and its message templates."""

    rule: str  # a `Rule` of the contract, or the id of a rule beside its enumeration
    category: Category
    severity: Severity
    fires_when: str
    kind: Kind
    table: Table
    title: Texts
    messages: tuple[Texts, ...]
    other_categories: frozenset[Category] = frozenset()  # a rule whose category varies by case

    def allows(self, category: Category) -> bool:
        """True when an alert of this rule may carry `category`."""
        return category is self.category or category in self.other_categories

    def catalogue_entry(self) -> dict[str, object]:
        """The row as the alerts API serves it: ids, kind and the titles in both languages."""
        return {
            "rule": str(self.rule),
            "category": self.category.value,
            "severity": self.severity.value,
            "kind": self.kind.value,
            "title": {language: self.title(language) for language in LANGUAGES},
        }


def _table(*rows: RuleInfo) -> Mapping[str, RuleInfo]:
    return MappingProxyType({str(row.rule): row for row in rows})


# Severities weigh harm to the applicant and how rarely the pattern has an innocent cause:
# a deadline passing is the common, visible failure (medium); a bypassed mandatory step, a
# separation-of-duty breach, an off-tariff payment or a backdated record rarely has an innocent
# explanation (high); two different contents under one event_id mean the record itself cannot be
# trusted (critical); a first event that is not a start step or a reordered delivery is mostly
# onboarding or transport noise (low).
RULES: Mapping[str, RuleInfo] = _table(
    RuleInfo(
        Rule.SLA_STEP_OVERDUE,
        Category.UNDUE_DELAY,
        Severity.MEDIUM,
        "a step's sla passed without that step",
        kind=Kind.TIMER,
        table=Table.CONTRACT,
        title=Texts("Langkah melewati batas waktu", "Step overdue"),
        messages=(
            Texts(
                "Langkah {awaited_step} tidak selesai dalam {sla} setelah {after_step}",
                "Step {awaited_step} not done within {sla} after {after_step}",
            ),
        ),
    ),
    RuleInfo(
        Rule.SLA_CASE_OVERDUE,
        Category.UNDUE_DELAY,
        Severity.MEDIUM,
        "the service sla passed before a terminal step",
        kind=Kind.TIMER,
        table=Table.CONTRACT,
        title=Texts("Kasus melewati SLA", "Case overdue"),
        messages=(
            Texts(
                "Kasus tidak selesai dalam standar pelayanan {sla}",
                "Case not finished within the service standard of {sla}",
            ),
        ),
    ),
    RuleInfo(
        Rule.PROCESS_INVALID_TRANSITION,
        Category.PROCEDURE_DEVIATION,
        Severity.MEDIUM,
        "the step is not allowed after the case's current step",
        kind=Kind.PER_CASE,
        table=Table.CONTRACT,
        title=Texts("Urutan langkah tidak sah", "Invalid transition"),
        messages=(
            Texts(
                "Langkah {step} tidak diperbolehkan setelah {from_step}",
                "Step {step} is not allowed after {from_step}",
            ),
        ),
    ),
    RuleInfo(
        Rule.PROCESS_SKIPPED_STEP,
        Category.PROCEDURE_DEVIATION,
        Severity.HIGH,
        "a successful terminal step arrives while a mandatory step never happened",
        kind=Kind.PER_CASE,
        table=Table.CONTRACT,
        title=Texts("Langkah wajib dilewati", "Mandatory step skipped"),
        messages=(
            Texts(
                "Kasus diselesaikan dengan {step} tanpa langkah wajib: {missing}",
                "Case ended with {step} without mandatory steps: {missing}",
            ),
        ),
    ),
    RuleInfo(
        Rule.PROCESS_AFTER_TERMINAL,
        Category.PROCEDURE_DEVIATION,
        Severity.MEDIUM,
        "a step arrives after the case reached a terminal step",
        kind=Kind.PER_CASE,
        table=Table.CONTRACT,
        title=Texts("Langkah setelah kasus selesai", "Step after case end"),
        messages=(
            Texts(
                "Langkah {step} dicatat setelah kasus berakhir dengan {terminal_step}",
                "Step {step} after the case ended with {terminal_step}",
            ),
        ),
    ),
    RuleInfo(
        Rule.PROCESS_UNKNOWN_CASE,
        Category.PROCEDURE_DEVIATION,
        Severity.LOW,
        "the first event of a case is not a start step",
        kind=Kind.PER_CASE,
        table=Table.CONTRACT,
        title=Texts("Kasus tanpa langkah awal", "Case without a start step"),
        messages=(
            Texts(
                "Peristiwa pertama kasus adalah {step}, bukan langkah awal ({start_steps})",
                "First event of the case is {step}, not a start step ({start_steps})",
            ),
        ),
    ),
    RuleInfo(
        Rule.PROCESS_REASON_MISSING,
        Category.IMPROPRIETY,
        Severity.MEDIUM,
        "a reason_required step without reason",
        kind=Kind.PER_CASE,
        table=Table.CONTRACT,
        title=Texts("Alasan tidak diisi", "Reason missing"),
        messages=(
            Texts(
                "Langkah {step} wajib disertai alasan, tetapi alasan tidak diisi",
                "Step {step} requires a reason and none was given",
            ),
        ),
    ),
    RuleInfo(
        Rule.DUTY_SAME_OFFICER,
        Category.ABUSE_OF_AUTHORITY,
        Severity.HIGH,
        "one officer did both steps of a separate pair",
        kind=Kind.PER_CASE,
        table=Table.CONTRACT,
        title=Texts("Petugas sama pada tugas terpisah", "Same officer on separated duties"),
        messages=(
            Texts(
                "Langkah {step} dikerjakan oleh petugas {officer_id} yang juga mengerjakan "
                "langkah terpisahnya ({separated})",
                "Step {step} done by officer {officer_id}, who also did its separated step "
                "({separated})",
            ),
        ),
    ),
    RuleInfo(
        Rule.DUTY_ROLE_NOT_ALLOWED,
        Category.ABUSE_OF_AUTHORITY,
        Severity.HIGH,
        "the officer's role is not in the step's roles, or no officer given",
        kind=Kind.PER_CASE,
        table=Table.CONTRACT,
        title=Texts("Peran petugas tidak berwenang", "Officer role not allowed"),
        messages=(
            Texts(
                "Langkah {step} dikerjakan oleh peran {role}; yang berwenang: {allowed_roles}",
                "Step {step} done by role {role}, allowed: {allowed_roles}",
            ),
            Texts(
                "Langkah {step} dicatat tanpa petugas yang mengerjakannya",
                "Step {step} recorded without the officer who did it",
            ),
        ),
    ),
    RuleInfo(
        Rule.FEE_MISMATCH,
        Category.IMPROPER_REQUEST,
        Severity.HIGH,
        "a payment differs from the tariff, or any payment on a free service; with the "
        "assessment extension, a payment differs from the case's assessment, or an assessment "
        "from the tariff",
        kind=Kind.PER_CASE,
        table=Table.CONTRACT,
        title=Texts(
            "Biaya tidak sesuai tarif atau penetapan", "Fee differs from tariff or assessment"
        ),
        messages=(
            Texts(
                "Pembayaran Rp{amount} berbeda dari biaya yang ditetapkan untuk kasus ini, "
                "Rp{assessed_amount}",
                "Payment of IDR {amount} differs from the fee assessed for the case, IDR "
                "{assessed_amount}",
            ),
            Texts(
                "Biaya ditetapkan Rp{assessed_amount}, di luar tarif Rp{tariff_min}-{tariff_max}",
                "Fee assessed at IDR {assessed_amount}, outside the tariff IDR "
                "{tariff_min}-{tariff_max}",
            ),
            Texts(
                "Pembayaran Rp{amount} di luar tarif Rp{tariff_min}-{tariff_max}",
                "Payment of IDR {amount} outside the tariff IDR {tariff_min}-{tariff_max}",
            ),
        ),
    ),
    RuleInfo(
        Rule.TIME_BACKDATED,
        Category.INTEGRITY,
        Severity.HIGH,
        "live mode, and receive time minus occurred_at exceeds the tolerance",
        kind=Kind.PER_CASE,
        table=Table.CONTRACT,
        title=Texts("Pencatatan mundur (backdate)", "Backdated record"),
        messages=(
            Texts(
                "Peristiwa langsung yang terjadi {occurred_at} baru diterima {received_at}, "
                "melewati toleransi {tolerance_seconds} detik",
                "Live event that occurred at {occurred_at} received at {received_at}, beyond the "
                "tolerance of {tolerance_seconds} s",
            ),
        ),
    ),
    RuleInfo(
        Rule.TIME_FUTURE,
        Category.INTEGRITY,
        Severity.MEDIUM,
        "occurred_at is later than receive time plus the tolerance",
        kind=Kind.PER_CASE,
        table=Table.CONTRACT,
        title=Texts("Waktu di masa depan", "Time in the future"),
        messages=(
            Texts(
                "Peristiwa bertanggal {occurred_at}, lebih dari {tolerance_seconds} detik setelah "
                "diterima {received_at}",
                "Event dated {occurred_at}, more than {tolerance_seconds} s after it was received "
                "at {received_at}",
            ),
        ),
    ),
    RuleInfo(
        Rule.TIME_OUT_OF_ORDER,
        Category.INTEGRITY,
        Severity.LOW,
        "seq or occurred_at is earlier than the case's latest applied event",
        kind=Kind.PER_CASE,
        table=Table.CONTRACT,
        title=Texts("Urutan waktu terbalik", "Out of order"),
        messages=(
            Texts(
                "Langkah {step} lebih awal daripada peristiwa terakhir kasus "
                "({latest_occurred_at})",
                "Step {step} is earlier than the case's latest applied event "
                "({latest_occurred_at})",
            ),
        ),
    ),
    RuleInfo(
        Rule.INTEGRITY_CONFLICTING_DUPLICATE,
        Category.INTEGRITY,
        Severity.CRITICAL,
        "an event_id seen before arrives with different content",
        kind=Kind.PER_CASE,
        table=Table.CONTRACT,
        title=Texts("Duplikat dengan isi berbeda", "Conflicting duplicate"),
        messages=(
            Texts(
                "Peristiwa {event_id} datang lagi dengan isi berbeda",
                "Event {event_id} arrived again with different content",
            ),
        ),
    ),
    # The cross-case rules compare a case with its peers, so an innocent cause (a simple file,
    # a busy day, a licensed agent) is likelier than for a single-case breach: medium at most,
    # and low for work outside office hours, which is often just dedication.
    RuleInfo(
        Rule.QUEUE_JUMP,
        Category.DISCRIMINATION,
        Severity.MEDIUM,
        "a case completes a step while earlier-submitted cases waited longer at that step, "
        "beyond the configured margin",
        kind=Kind.CROSS_CASE,
        table=Table.CROSS_CASE,
        title=Texts("Menyerobot antrean", "Queue jump"),
        messages=(
            Texts(
                "Langkah {step} selesai setelah menunggu di {waited_at} sejak {waiting_since}, "
                "mendahului {overtaken} kasus yang diajukan lebih dulu dan menunggu sedikitnya "
                "{min_wait} lebih lama",
                "Step {step} completed after waiting at {waited_at} since {waiting_since}, ahead "
                "of {overtaken} earlier-submitted cases waiting at least {min_wait} longer",
            ),
        ),
    ),
    RuleInfo(
        Rule.SPEED_TOO_FAST,
        Category.IMPROPER_REQUEST,
        Severity.MEDIUM,
        "a step or case completes far faster than the low quantile of its peers' durations",
        kind=Kind.CROSS_CASE,
        table=Table.CROSS_CASE,
        title=Texts("Terlalu cepat dibanding sejenisnya", "Far faster than its peers"),
        messages=(
            Texts(
                "{measured} selesai dalam {seconds} detik, di bawah {factor} x kuantil {quantile} "
                "({quantile_seconds} detik) dari {peers} kasus sejenis terakhir",
                "{measured} took {seconds} s, under {factor} x the {quantile} quantile "
                "({quantile_seconds} s) of its last {peers} peers",
            ),
        ),
    ),
    RuleInfo(
        Rule.OFFICER_BURST,
        Category.PROCEDURE_DEVIATION,
        Severity.MEDIUM,
        "one officer completes more than N steps of a kind within T minutes",
        kind=Kind.CROSS_CASE,
        table=Table.CROSS_CASE,
        title=Texts("Petugas memproses beruntun", "Officer burst"),
        messages=(
            Texts(
                "Petugas {officer_id} menyelesaikan {completed} langkah {step} antara {first_at} "
                "dan {last_at}, lebih dari {max_steps} dalam {window}",
                "Officer {officer_id} completed {completed} {step} steps between {first_at} and "
                "{last_at}, more than {max_steps} within {window}",
            ),
        ),
    ),
    RuleInfo(
        Rule.APPLICANT_BROKER,
        Category.IMPROPER_REQUEST,
        Severity.MEDIUM,
        "one representative files for more than K distinct applicants within D days",
        kind=Kind.CROSS_CASE,
        table=Table.CROSS_CASE,
        title=Texts("Dugaan calo", "Suspected broker"),
        messages=(
            Texts(
                "Kuasa {representative_ref} mengajukan {service} untuk {applicants} pemohon "
                "berbeda, lebih dari {max_applicants} dalam {window}",
                "Representative {representative_ref} filed {service} for {applicants} distinct "
                "applicants, more than {max_applicants} within {window}",
            ),
        ),
    ),
    RuleInfo(
        Rule.SLA_CLOCK_RESET_ABUSE,
        Category.UNDUE_DELAY,
        Severity.MEDIUM,
        "too many clock stops in a case, a stop late in the allowed time, or a stop "
        "without a reason",
        kind=Kind.CROSS_CASE,
        table=Table.CROSS_CASE,
        title=Texts("Penghentian waktu tidak wajar", "Clock stop abuse"),
        messages=(
            Texts(
                "Waktu dihentikan oleh {step} pada {occurred_at}: penghentian ke-{stop_number}, "
                "lebih dari {max_stops} yang diizinkan",
                "Clock stopped by {step} at {occurred_at}: stop number {stop_number}, more than "
                "{max_stops} allowed",
            ),
            Texts(
                "Waktu dihentikan oleh {step} pada {occurred_at}, menjelang habisnya batas waktu "
                "({late_fraction} terakhir)",
                "Clock stopped by {step} at {occurred_at}, late in the time allowed (the last "
                "{late_fraction})",
            ),
            Texts(
                "Waktu dihentikan oleh {step} pada {occurred_at} tanpa alasan",
                "Clock stopped by {step} at {occurred_at} without a reason",
            ),
        ),
    ),
    RuleInfo(
        Rule.TIME_OFF_HOURS,
        Category.IMPROPRIETY,
        Severity.LOW,
        "a staff step outside the agency calendar's working hours or on a day off",
        kind=Kind.CROSS_CASE,
        table=Table.CROSS_CASE,
        title=Texts("Dikerjakan di luar jam kerja", "Work outside office hours"),
        messages=(
            Texts(
                "Langkah {step} dikerjakan pada {local_time}, di luar jam kerja kalender "
                "{calendar}",
                "Step {step} done at {local_time}, outside the working hours of calendar "
                "{calendar}",
            ),
        ),
    ),
    # An applicant's own report from the status page (docs/contract-extensions.md): a claim, not
    # a finding, so medium; its category follows what the applicant reports.
    RuleInfo(
        Rule.CITIZEN_REPORT,
        Category.IMPROPER_REQUEST,
        Severity.MEDIUM,
        "an applicant reports an improper request, a payment outside the official channel, "
        "a file that does not move, or another problem",
        other_categories=frozenset({Category.UNDUE_DELAY, Category.IMPROPRIETY}),
        kind=Kind.REPORTED,
        table=Table.CITIZEN,
        title=Texts("Laporan pemohon", "Applicant's report"),
        messages=(
            Texts(
                "Pemohon melaporkan ({kind}): {text}",
                "Applicant reports ({kind}): {text}",
            ),
            Texts(
                "Pemohon melaporkan masalah ({kind})",
                "Applicant reports a problem ({kind})",
            ),
        ),
    ),
    # Deemed approval (fiktif positif) of a service that declares it (docs/contract-extensions.md):
    # the law grants the application when the agency lets its time limit pass undecided.
    RuleInfo(
        Rule.SLA_DEEMED_APPROVAL_NEAR,
        Category.UNDUE_DELAY,
        Severity.MEDIUM,
        "a deemed-approval case is undecided with less than the catalog's warning time left",
        kind=Kind.TIMER,
        table=Table.DEEMED_APPROVAL,
        title=Texts("Hampir fiktif positif", "Deemed approval near"),
        messages=(
            Texts(
                "Kasus belum diputus {warn_before} sebelum standar pelayanan {sla} habis; setelah "
                "itu dianggap disetujui",
                "Case still undecided {warn_before} before the service standard of {sla} runs "
                "out; then it is deemed approved",
            ),
        ),
    ),
    RuleInfo(
        Rule.SLA_DEEMED_APPROVED,
        Category.UNDUE_DELAY,
        Severity.HIGH,
        "a deemed-approval case passed its service time limit undecided: it is deemed approved",
        kind=Kind.TIMER,
        table=Table.DEEMED_APPROVAL,
        title=Texts("Fiktif positif: dianggap disetujui", "Deemed approved"),
        messages=(
            Texts(
                "Kasus tidak diputus dalam standar pelayanan {sla}: dianggap disetujui",
                "Case undecided within the service standard of {sla}: deemed approved",
            ),
        ),
    ),
    RuleInfo(
        Rule.PROCESS_AFTER_DEEMED_APPROVAL,
        Category.ABUSE_OF_AUTHORITY,
        Severity.HIGH,
        "a case is rejected after it was deemed approved",
        kind=Kind.PER_CASE,
        table=Table.DEEMED_APPROVAL,
        title=Texts("Ditolak setelah fiktif positif", "Rejected after deemed approval"),
        messages=(
            Texts(
                "Kasus ditolak dengan {step} setelah dianggap disetujui pada {deemed_approved_at}",
                "Case rejected with {step} after it was deemed approved at {deemed_approved_at}",
            ),
        ),
    ),
    # How a case's fee is assessed and paid (docs/contract-extensions.md). A second payment of
    # one bill and cash handed over where only the bank or an online channel may take it are
    # levies with hardly an innocent reading (high); a payment recorded before its assessment
    # or without a receipt number may still be a clerk's slip in the record (medium).
    RuleInfo(
        Rule.FEE_PAID_TWICE,
        Category.IMPROPER_REQUEST,
        Severity.HIGH,
        "a second payment for one assessment of the case's fee",
        kind=Kind.PER_CASE,
        table=Table.FEE,
        title=Texts("Dibayar dua kali", "Paid twice"),
        messages=(
            Texts(
                "Pembayaran Rp{amount} untuk penetapan biaya yang sudah dibayar",
                "Payment of IDR {amount} for an assessment already paid",
            ),
        ),
    ),
    RuleInfo(
        Rule.FEE_PAID_BEFORE_ASSESSMENT,
        Category.IMPROPER_REQUEST,
        Severity.MEDIUM,
        "a payment in a case whose service assesses its fee, before the assessing step",
        kind=Kind.PER_CASE,
        table=Table.FEE,
        title=Texts("Dibayar sebelum penetapan retribusi", "Paid before assessment"),
        messages=(
            Texts(
                "Pembayaran Rp{amount} sebelum biaya ditetapkan ({assessment_steps})",
                "Payment of IDR {amount} before the fee was assessed ({assessment_steps})",
            ),
        ),
    ),
    RuleInfo(
        Rule.FEE_NO_RECEIPT,
        Category.IMPROPER_REQUEST,
        Severity.MEDIUM,
        "a payment without an official receipt number",
        kind=Kind.PER_CASE,
        table=Table.FEE,
        title=Texts("Pembayaran tanpa bukti resmi", "Payment without a receipt"),
        messages=(
            Texts(
                "Pembayaran Rp{amount} tanpa nomor bukti pembayaran resmi",
                "Payment of IDR {amount} without an official receipt number",
            ),
        ),
    ),
    RuleInfo(
        Rule.FEE_CASH_TO_OFFICER,
        Category.IMPROPER_REQUEST,
        Severity.HIGH,
        "a payment in cash on a service the catalog says is paid only through other channels",
        kind=Kind.PER_CASE,
        table=Table.FEE,
        title=Texts("Bayar tunai ke petugas", "Cash paid to an officer"),
        messages=(
            Texts(
                "Pembayaran Rp{amount} tunai kepada petugas {officer_id}; layanan ini hanya "
                "dibayar melalui {payment_channels}",
                "Payment of IDR {amount} in cash to officer {officer_id}; the service is paid "
                "only through {payment_channels}",
            ),
            Texts(
                "Pembayaran Rp{amount} tunai; layanan ini hanya dibayar melalui {payment_channels}",
                "Payment of IDR {amount} in cash; the service is paid only through "
                "{payment_channels}",
            ),
        ),
    ),
)


def rules_of(table: Table) -> tuple[str, ...]:
    """The rule ids one table of the documentation lists, in rule-table order."""
    return tuple(rule for rule, info in RULES.items() if info.table is table)


def placeholders(template: str) -> frozenset[str]:
    """The names a message template fills in."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def render_message(info: RuleInfo, language: Language, values: Mapping[str, object]) -> str | None:
    """The rule's message in `language` from an alert's `values` (its fields and evidence):
    the first template whose placeholders are all given; None when none is. Amounts of money
    and durations are written as the language writes them."""
    given = {
        name: _text(name, value, language)
        for name, value in values.items()
        if value is not None and value != ""
    }
    for texts in info.messages:
        template = texts(language)
        if placeholders(template) <= given.keys():
            return template.format_map(given)
    return None


_MONEY = frozenset({"amount", "assessed_amount", "tariff_min", "tariff_max"})
_DURATION = re.compile(r"^(\d+) (working_days|working_hours|days|hours|minutes)$")
_UNITS: Mapping[str, Texts] = {
    "working_days": Texts("hari kerja", "working days"),
    "working_hours": Texts("jam kerja", "working hours"),
    "days": Texts("hari", "days"),
    "hours": Texts("jam", "hours"),
    "minutes": Texts("menit", "minutes"),
}


def _text(name: str, value: object, language: Language) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_text("", item, language) for item in value)
    text = str(value)
    if name in _MONEY:
        try:
            amount = Decimal(text)
        except InvalidOperation:
            return text
        grouped = f"{amount:,f}" if amount != amount.to_integral() else f"{amount:,.0f}"
        return grouped.translate(_ID_DIGITS) if language == "id" else grouped
    duration = _DURATION.fullmatch(text)
    if duration is not None:
        return f"{duration[1]} {_UNITS[duration[2]](language)}"
    return text


_ID_DIGITS = str.maketrans(",.", ".,")  # Rp1.500.000,50
