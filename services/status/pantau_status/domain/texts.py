"""The words of the status page in Bahasa Indonesia (first) and English."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

__all__ = ["LANGS", "TEXTS", "format_local", "format_money", "pick_lang", "step_label", "t"]

LANGS = ("id", "en")

# Step codes of the sample catalog; another code is shown as written, underscores as spaces.
_STEPS: dict[str, tuple[str, str]] = {
    "submitted": ("Permohonan diterima", "Application received"),
    "verified": ("Berkas diverifikasi", "Documents verified"),
    "technical_consultation": ("Konsultasi teknis", "Technical consultation"),
    "technical_review": ("Kajian teknis", "Technical review"),
    "fee_assessed": ("Retribusi ditetapkan", "Fee assessed"),
    "billed": ("Tagihan (SKRD) diterbitkan", "Bill issued"),
    "paid": ("Pembayaran diterima", "Payment received"),
    "inspected": ("Pemeriksaan lapangan", "Site inspection"),
    "site_surveyed": ("Survei lokasi", "Site survey"),
    "approved": ("Disetujui", "Approved"),
    "signed": ("Ditandatangani", "Signed"),
    "printed": ("Dicetak", "Printed"),
    "issued": ("Diterbitkan", "Issued"),
    "handed_over": ("Diserahkan", "Handed over"),
    "rejected": ("Ditolak", "Rejected"),
    "withdrawn": ("Dicabut pemohon", "Withdrawn by the applicant"),
    "clarification_requested": ("Diminta klarifikasi", "Clarification requested"),
    "clarification_received": ("Klarifikasi diterima", "Clarification received"),
    "revision_requested": ("Diminta perbaikan", "Revision requested"),
    "revision_received": ("Perbaikan diterima", "Revision received"),
    "documents_incomplete": ("Berkas belum lengkap", "Documents incomplete"),
    "documents_completed": ("Berkas dilengkapi", "Documents completed"),
    "biometrics_recorded": ("Perekaman biometrik", "Biometrics recorded"),
    "blank_card_unavailable": ("Blangko kosong", "Blank cards out of stock"),
    "blank_card_available": ("Blangko tersedia", "Blank cards available"),
    "assisted": ("Didampingi petugas", "Assisted by staff"),
}

TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "title": "Cek status permohonan",
        "intro": "Masukkan nomor tanda terima dan kode cek yang tercetak pada tanda terima Anda.",
        "receipt": "Nomor tanda terima",
        "code": "Kode cek",
        "look_up": "Cek status",
        "not_found": "Nomor tanda terima atau kode cek tidak cocok. Periksa kembali tanda terima "
        "Anda. Permohonan yang baru diajukan dapat muncul beberapa menit kemudian.",
        "too_many": "Terlalu banyak percobaan dari alamat ini. Coba lagi dalam {seconds} detik.",
        "not_ready": "Layanan sedang memuat data. Coba lagi sebentar lagi.",
        "service": "Layanan",
        "standard": "Standar pelayanan",
        "time_limit": "Jangka waktu",
        "fee": "Biaya resmi",
        "free": "Gratis — tidak dipungut biaya apa pun",
        "fee_range": "{min} sampai {max}, sesuai ketetapan retribusi",
        "only_payment": "Pembayaran hanya pada langkah “{step}”, melalui kanal resmi dengan bukti "
        "bayar. Semua langkah lain tanpa biaya.",
        "no_cash": "Pembayaran hanya melalui {channels}; jangan membayar tunai kepada petugas.",
        "channel_bank": "bank",
        "channel_online": "kanal daring (virtual account, QRIS)",
        "channel_cash": "tunai",
        "or": " atau ",
        "no_limit": "tidak ditetapkan",
        "status": "Status",
        "open": "Dalam proses",
        "completed": "Selesai",
        "rejected": "Tidak dikabulkan",
        "closed": "Ditutup",
        "current": "Posisi sekarang",
        "steps_done": "Langkah yang sudah dilalui",
        "step": "Langkah",
        "date": "Tanggal",
        "awaiting": "Menunggu",
        "step_due": "Batas waktu langkah",
        "case_due": "Batas waktu penyelesaian",
        "late": "TERLAMBAT",
        "on_time": "sesuai jadwal",
        "stopped": "Waktu dihentikan sementara: menunggu kelengkapan dari pemohon.",
        "deemed": "Permohonan Anda dianggap disetujui menurut hukum (fiktif positif): batas "
        "waktu layanan lewat tanpa keputusan.",
        "as_of": "Data per {time}",
        "report_title": "Laporkan masalah",
        "report_intro": "Laporan Anda diteruskan ke pengawas pelayanan. Jangan menulis NIK atau "
        "nomor telepon; keduanya akan dihapus.",
        "kind": "Jenis masalah",
        "kind_overcharge": "Saya diminta membayar lebih dari biaya resmi",
        "kind_unofficial_channel": "Saya diminta membayar di luar kanal resmi",
        "kind_stalled": "Berkas saya tidak bergerak",
        "kind_other": "Lainnya",
        "details": "Keterangan (boleh dikosongkan)",
        "send": "Kirim laporan",
        "report_received": "Terima kasih. Laporan Anda sudah diterima dan diteruskan ke pengawas.",
        "report_duplicate": "Laporan jenis ini untuk permohonan ini sudah diterima hari ini.",
        "report_invalid": "Laporan tidak dapat diterima: {problem}",
        "report_failed": "Laporan belum dapat dikirim. Coba lagi sebentar lagi.",
        "back": "Kembali",
        "other_lang": "English",
        "new_lookup": "Cek permohonan lain",
        "unit_working_days": "hari kerja",
        "unit_working_hours": "jam kerja",
        "unit_days": "hari",
        "unit_hours": "jam",
        "unit_minutes": "menit",
    },
    "en": {
        "title": "Check your application",
        "intro": "Enter the receipt number and the check code printed on your receipt.",
        "receipt": "Receipt number",
        "code": "Check code",
        "look_up": "Check status",
        "not_found": "The receipt number or check code does not match. Please check your "
        "receipt. A new application may take a few minutes to appear.",
        "too_many": "Too many tries from this address. Try again in {seconds} seconds.",
        "not_ready": "The service is loading its data. Please try again shortly.",
        "service": "Service",
        "standard": "Service standard",
        "time_limit": "Time limit",
        "fee": "Official fee",
        "free": "Free — no fee of any kind may be charged",
        "fee_range": "{min} to {max}, as assessed",
        "only_payment": "Payment only at the step “{step}”, through the official channel with a "
        "receipt. Every other step is free.",
        "no_cash": "Pay only through {channels}; never pay cash to an officer.",
        "channel_bank": "a bank",
        "channel_online": "an online channel (virtual account, QRIS)",
        "channel_cash": "cash",
        "or": " or ",
        "no_limit": "not set",
        "status": "Status",
        "open": "In progress",
        "completed": "Completed",
        "rejected": "Not granted",
        "closed": "Closed",
        "current": "Current step",
        "steps_done": "Steps done",
        "step": "Step",
        "date": "Date",
        "awaiting": "Waiting for",
        "step_due": "Step deadline",
        "case_due": "Deadline for the whole application",
        "late": "LATE",
        "on_time": "on time",
        "stopped": "The clock is paused: waiting for documents from the applicant.",
        "deemed": "Your application is deemed approved by law: the service time limit passed "
        "without a decision.",
        "as_of": "As of {time}",
        "report_title": "Report a problem",
        "report_intro": "Your report goes to the service inspectors. Do not write an ID number "
        "(NIK) or a phone number; both are removed.",
        "kind": "Kind of problem",
        "kind_overcharge": "I was asked to pay more than the official fee",
        "kind_unofficial_channel": "I was asked to pay outside the official channel",
        "kind_stalled": "My file is not moving",
        "kind_other": "Other",
        "details": "Details (optional)",
        "send": "Send report",
        "report_received": "Thank you. Your report was received and passed to the inspectors.",
        "report_duplicate": "A report of this kind on this application was already received today.",
        "report_invalid": "The report cannot be accepted: {problem}",
        "report_failed": "The report could not be sent yet. Please try again shortly.",
        "back": "Back",
        "other_lang": "Bahasa Indonesia",
        "new_lookup": "Check another application",
        "unit_working_days": "working days",
        "unit_working_hours": "working hours",
        "unit_days": "days",
        "unit_hours": "hours",
        "unit_minutes": "minutes",
    },
}

_MONTHS = {
    "id": ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}
_ZONES = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA"}
_ZONES["Asia/Jayapura"] = "WIT"


def pick_lang(value: str | None) -> str:
    """`en` when asked for, else Bahasa Indonesia."""
    return "en" if value == "en" else "id"


def t(lang: str, key: str, **values: object) -> str:
    """The text `key` in `lang`, with `{name}` places filled."""
    text = TEXTS[pick_lang(lang)][key]
    return text.format(**values) if values else text


def step_label(code: str, lang: str) -> str:
    """A step's name for the applicant."""
    names = _STEPS.get(code)
    if names is None:
        return code.replace("_", " ")
    return names[1] if pick_lang(lang) == "en" else names[0]


def format_local(moment: datetime, timezone: str, lang: str) -> str:
    """`2 Des 2026 14:05 WIB`: the agency's local time, in the applicant's language."""
    local = moment.astimezone(ZoneInfo(timezone))
    month = _MONTHS[pick_lang(lang)][local.month - 1]
    zone = _ZONES.get(timezone, local.tzname() or timezone)
    return f"{local.day} {month} {local.year} {local.hour:02d}:{local.minute:02d} {zone}"


def format_money(amount: Decimal | int) -> str:
    """`Rp150.000`: rupiah with dots between thousands."""
    return "Rp" + f"{int(amount):,}".replace(",", ".")
