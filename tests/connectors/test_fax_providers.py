"""The outbound fax providers: the registry, HylaFAX through stand-in client commands, the spool."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connectors.fax import providers
from connectors.fax.base import FaxError, FaxJob
from connectors.fax.hylafax import JOB_FORMAT, HylaFaxProvider
from connectors.fax.spool import SpoolProvider

KEY = "PA-7KQ2M9XD:packet-3"
NUMBER = "+15550100"
HOST = "fax.example.org"

# One script plays sendfax, faxstat and faxrm (by the name it is called as), over a job table in
# JSON, printing what the HylaFAX 6.0 client prints. A test's "script" entry replaces a command's
# answer. Each call is logged with its argv, its LC_ALL and the .hylarc faxstat would read.
STAND_IN = r"""#!{python}
import json, os, re, sys, time
from pathlib import Path

TABLE, LOG = Path({table!r}), Path({log!r})
name, args = Path(sys.argv[0]).name, sys.argv[1:]
hylarc = Path(os.environ.get("HOME", "/nowhere"), ".hylarc")
entry = {{"argv": [name, *args], "lc_all": os.environ.get("LC_ALL"),
          "hylarc": hylarc.read_text() if hylarc.exists() else None}}
with LOG.open("a") as log:
    log.write(json.dumps(entry) + "\n")
table = json.loads(TABLE.read_text())
canned = table["script"].get(name)
if canned:
    time.sleep(canned.get("sleep", 0))
    sys.stdout.write(canned.get("stdout", ""))
    sys.stderr.write(canned.get("stderr", ""))
    sys.exit(canned.get("exit", 0))

def save():
    TABLE.write_text(json.dumps(table))

def jprintf(spec, values):
    return re.sub(r"%([-0-9.]*)([A-Za-z%])",
                  lambda m: "%" if m[2] == "%" else ("%" + m[1] + "s") % values.get(m[2], ""), spec)

if name == "sendfax":  # like getopt: a destination takes the options seen before its -d
    tag, host, queued, index = "", "localhost", [], 0
    while index < len(args):
        option = args[index]
        if option in ("-i", "-h", "-f", "-d"):
            value, index = args[index + 1], index + 2
            tag = value if option == "-i" else tag
            host = value if option == "-h" else host
            if option == "-d":
                queued.append({{"id": str(table["next_id"]), "state": "P", "tag": tag, "sent": 0,
                                "total": 2, "dials": 0, "status": ""}})
                table["next_id"] += 1
        else:
            index += 1
    table["jobs"] += queued
    save()
    for job in queued:
        print("request id is %s (group id %s) for host %s (1 file)" % (job["id"], job["id"], host))
elif name == "faxstat":
    found = re.findall(r'^JobFmt:\s*"(.*)"\s*$', hylarc.read_text() if hylarc.exists() else "", re.M)
    spec = found[-1] if found else "%-4j %3i %1a %6.6o %-12.12e %5P %5D %7z %.25s"
    titles = {{"j": "JID", "a": "State", "P": "Pages", "D": "Dials", "J": "JobTag", "s": "Status"}}
    print("HylaFAX scheduler on localhost: Running")
    print("Modem ttyS0 (+1.555.0100): Running and idle")
    for flag in [a for a in args if a in ("-s", "-d")]:
        rows = [job for job in table["jobs"] if (job["state"] in "DF") == (flag == "-d")]
        if rows:
            print()
            print(jprintf(spec, titles))
        for job in rows:
            print(jprintf(spec, {{
                "j": job["id"], "a": job["state"], "J": job["tag"], "s": job["status"], "i": 127,
                "o": "priorauth", "e": "5550100", "P": "%2u:%-2u" % (job["sent"], job["total"]),
                "D": "%2u:%-2u" % (job["dials"], 12)}}))
elif name == "faxrm":
    job = next((job for job in table["jobs"] if job["id"] == args[-1]), None)
    if job is None:
        sys.stderr.write("Job %s does not exist.\n" % args[-1])
    elif job["state"] in "DF":
        table["jobs"].remove(job)
        print("Job %s removed (from doneq)." % job["id"])
    else:
        job.update(state="F", status="Job aborted by request")
        print("Job %s removed." % job["id"])
    save()
"""


@dataclass
class StandIns:
    """The stand-in HylaFAX client commands: their job table and what they were called with."""

    table: Path
    log: Path

    def jobs(self) -> list[dict[str, Any]]:
        return list(json.loads(self.table.read_text())["jobs"])

    def add_job(self, job_id: str, state: str, tag: str = KEY, **fields: Any) -> None:
        data = json.loads(self.table.read_text())
        job = {"id": job_id, "state": state, "tag": tag, "sent": 0, "total": 2, "dials": 0, "status": ""}
        data["jobs"].append(job | fields)
        self.table.write_text(json.dumps(data))

    def update(self, job_id: str, **fields: Any) -> None:
        """Change a job as the fax server would."""
        data = json.loads(self.table.read_text())
        next(job for job in data["jobs"] if job["id"] == job_id).update(fields)
        self.table.write_text(json.dumps(data))

    def answer(self, command: str, **canned: Any) -> None:
        """Make `command` print and exit as told instead of doing its work."""
        data = json.loads(self.table.read_text())
        data["script"][command] = canned
        self.table.write_text(json.dumps(data))

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def argvs(self) -> list[list[str]]:
        return [call["argv"] for call in self.calls()]


@pytest.fixture
def hylafax(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    stand_ins = StandIns(tmp_path / "jobs.json", tmp_path / "calls.log")
    stand_ins.table.write_text(json.dumps({"next_id": 7, "jobs": [], "script": {}}))
    folder = tmp_path / "bin"
    folder.mkdir()
    source = STAND_IN.format(python=sys.executable, table=str(stand_ins.table), log=str(stand_ins.log))
    for command in ("sendfax", "faxstat", "faxrm"):
        (folder / command).write_text(source)
        (folder / command).chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no .hylarc of yours reaches a test
    return stand_ins


@pytest.fixture
def packet(tmp_path: Path) -> Path:
    path = tmp_path / "packet.tif"
    path.write_bytes(b"II*\x00" + bytes(60))  # a TIFF by its first bytes: all the provider checks
    return path


def _queued(job_id: str = "7") -> FaxJob:
    return FaxJob("hylafax", job_id, KEY, NUMBER)


def test_get_makes_the_provider_by_its_name(tmp_path: Path) -> None:
    assert providers.names() == ("hylafax", "spool")
    spool = providers.get("spool", spool_dir=str(tmp_path))
    assert isinstance(spool, SpoolProvider) and spool.spool_dir == tmp_path and spool.name == "spool"
    hylafax = providers.get("hylafax", host=HOST)
    assert isinstance(hylafax, HylaFaxProvider) and hylafax.host == HOST and hylafax.name == "hylafax"


def test_an_unknown_provider_is_refused_with_the_known_ones_named() -> None:
    with pytest.raises(FaxError) as error:
        providers.get("hylfax")
    assert str(error.value) == (
        "unknown fax provider 'hylfax': did you mean 'hylafax'? the known providers are hylafax, spool"
    )
    assert error.value.permanent
    with pytest.raises(FaxError, match=r"^unknown fax provider 'modem': the known providers are"):
        providers.get("modem")


def test_a_setting_the_provider_does_not_take_is_a_fax_error() -> None:
    with pytest.raises(
        FaxError, match=r"^the fax provider 'spool' cannot be made with these settings: .*'folder'"
    ):
        providers.get("spool", folder="/tmp")


# HylaFAX


def test_send_runs_sendfax_with_the_tag_before_the_number(hylafax: StandIns, packet: Path) -> None:
    provider = HylaFaxProvider(host=HOST, sender="prior-auth@example.org")
    job = provider.send(packet, "+1 (555) 0100", KEY)
    assert job == FaxJob("hylafax", "7", KEY, NUMBER, "queued")
    assert hylafax.argvs() == [
        ["faxstat", "-h", HOST, "-s", "-d"],
        [
            "sendfax",
            "-n",
            "-i",
            KEY,
            "-h",
            HOST,
            "-f",
            "prior-auth@example.org",
            "-d",
            NUMBER,
            str(packet.resolve()),
        ],
    ]
    assert [call["lc_all"] for call in hylafax.calls()] == ["C", "C"]
    assert hylafax.jobs()[0]["tag"] == KEY  # the stand-in, like sendfax, tags only with -i before -d


def test_faxstat_reads_the_job_format_after_your_own_hylarc(hylafax: StandIns, tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".hylarc").write_text("Host: fax.example.org\n")
    HylaFaxProvider().status(_queued())
    (call,) = hylafax.calls()
    assert call["argv"] == ["faxstat", "-s", "-d"]
    assert call["hylarc"] == f'Host: fax.example.org\n\nJobFmt: "{JOB_FORMAT}"\n'
    assert (tmp_path / "home" / ".hylarc").read_text() == "Host: fax.example.org\n"  # yours is left alone


@pytest.mark.parametrize(
    ("letter", "state", "reason"),
    [
        ("?", "queued", ""),
        ("T", "queued", ""),
        ("P", "queued", ""),
        ("S", "queued", ""),  # sleeping between tries
        ("B", "queued", ""),  # blocked behind another job to the same number
        ("W", "queued", ""),
        ("R", "sending", ""),
        ("D", "delivered", ""),
        ("F", "failed", "Busy signal detected"),
    ],
)
def test_each_hylafax_job_state_maps_to_a_fax_job_state(
    hylafax: StandIns, letter: str, state: str, reason: str
) -> None:
    hylafax.add_job("7", letter, sent=1, total=3, dials=2, status="Busy signal detected")
    job = HylaFaxProvider().status(_queued())
    assert job == FaxJob("hylafax", "7", KEY, NUMBER, state, reason, pages_sent=1, pages_total=3, attempts=2)


def test_a_failed_job_says_why_even_when_the_server_does_not(hylafax: StandIns) -> None:
    hylafax.add_job("7", "F")
    assert HylaFaxProvider().status(_queued()).reason == "the fax server gave no reason"


def test_a_job_in_neither_queue_has_failed(hylafax: StandIns) -> None:
    hylafax.add_job("7", "P", tag="another-key")  # the number reused after the server was set up anew
    job = HylaFaxProvider().status(_queued())
    assert (job.state, job.reason) == ("failed", "the fax server no longer knows this job")


def test_a_finished_job_is_not_asked_about_again(hylafax: StandIns) -> None:
    done = _queued().moved("delivered", pages_sent=2)
    assert HylaFaxProvider().status(done) is done
    assert hylafax.calls() == []


def test_the_same_key_never_sends_twice(hylafax: StandIns, packet: Path) -> None:
    provider = HylaFaxProvider()
    first = provider.send(packet, NUMBER, KEY)
    again = provider.send(packet, NUMBER, KEY)  # as faxstat knows it now
    assert (again.job_id, again.idempotency_key, again.state) == (first.job_id, KEY, "queued")
    hylafax.update("7", state="D", sent=2)  # the fax went out; the server keeps it in the done queue
    assert provider.send(packet, NUMBER, KEY).state == "delivered"
    assert [argv[0] for argv in hylafax.argvs()] == ["faxstat", "sendfax", "faxstat", "faxstat"]


def test_cancel_removes_a_waiting_job(hylafax: StandIns) -> None:
    hylafax.add_job("7", "S", dials=1)
    job = HylaFaxProvider(host=HOST).cancel(_queued())
    assert job == FaxJob("hylafax", "7", KEY, NUMBER, "cancelled", pages_sent=0, pages_total=2, attempts=1)
    assert hylafax.argvs() == [["faxstat", "-h", HOST, "-s", "-d"], ["faxrm", "-h", HOST, "7"]]


def test_cancel_returns_a_job_already_done_unchanged(hylafax: StandIns) -> None:
    hylafax.add_job("7", "D", sent=2)
    assert HylaFaxProvider().cancel(_queued()).state == "delivered"
    assert [argv[0] for argv in hylafax.argvs()] == ["faxstat"]  # faxrm would delete its record


@pytest.mark.parametrize(
    ("stdout", "stderr", "message", "permanent"),
    [
        ("", "Job 7 does not exist.\n", "faxrm failed: Job 7 does not exist.", True),
        (
            "Job 7 removed (from doneq).\n",
            "",
            "the fax ended while it was being cancelled and faxrm removed the fax server's record of it: "
            "see the fax server's transfer log (xferfaxlog) for how it ended",
            True,
        ),
        ("", "", "faxrm failed: it printed nothing (exit status 0)", False),
    ],
)
def test_a_cancel_faxrm_did_not_confirm_is_a_fax_error(
    hylafax: StandIns, stdout: str, stderr: str, message: str, permanent: bool
) -> None:
    hylafax.add_job("7", "P")
    hylafax.answer("faxrm", stdout=stdout, stderr=stderr)
    with pytest.raises(FaxError) as error:
        HylaFaxProvider().cancel(_queued())
    assert (str(error.value), error.value.permanent) == (message, permanent)


@pytest.mark.parametrize(
    ("stderr", "permanent"),
    [
        ('Can not reach service hylafax at host "fax.example.org".', False),
        ("Could not call server.", False),
        ('Invalid dialstring "+15550100".', True),
        ("530 User priorauth access denied.", True),
    ],
)
def test_a_sendfax_failure_is_permanent_or_not_by_its_words(
    hylafax: StandIns, packet: Path, stderr: str, permanent: bool
) -> None:
    hylafax.answer("sendfax", stderr=f"{stderr}\n", exit=255)  # sendfax exits 255 for any failure
    with pytest.raises(FaxError) as error:
        HylaFaxProvider().send(packet, NUMBER, KEY)
    assert (str(error.value), error.value.permanent) == (f"sendfax failed: {stderr}", permanent)


def test_the_fax_servers_words_are_trimmed(hylafax: StandIns, packet: Path) -> None:
    hylafax.answer("sendfax", stderr="line one\n  line two " + "x" * 400, exit=255)
    with pytest.raises(FaxError) as error:
        HylaFaxProvider().send(packet, NUMBER, KEY)
    assert str(error.value) == "sendfax failed: " + ("line one line two " + "x" * 400)[:300]


def test_sendfax_printing_no_request_id_is_a_transient_error(hylafax: StandIns, packet: Path) -> None:
    hylafax.answer("sendfax", stdout="Documents queued.\n")
    with pytest.raises(FaxError) as error:
        HylaFaxProvider().send(packet, NUMBER, KEY)
    assert (str(error.value), error.value.permanent) == ("sendfax failed: Documents queued.", False)


def test_nothing_is_sent_when_faxstat_cannot_say_what_is_queued(hylafax: StandIns, packet: Path) -> None:
    hylafax.answer("faxstat", stderr='Can not reach service hylafax at host "fax.example.org".\n')
    with pytest.raises(FaxError) as error:
        HylaFaxProvider().send(packet, NUMBER, KEY)
    assert str(error.value) == 'faxstat failed: Can not reach service hylafax at host "fax.example.org".'
    assert not error.value.permanent
    assert [argv[0] for argv in hylafax.argvs()] == ["faxstat"]


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        (  # what faxstat prints when the job format is ignored: its default columns
            "HylaFAX scheduler on localhost: Running\n\nJID  Pri S  Owner Number       Pages Dials\n"
            "7    127 P priora 5550100       0:2   0:12\n",
            "faxstat printed a job listing this provider cannot read (line 3): the job format it was "
            "given may have been ignored; check the HylaFAX client version",
        ),
        (
            "HylaFAX scheduler on localhost: Running\n\npriorauth|7|P|zero|0:12|PA-1|\n",
            "faxstat printed a job listing this provider cannot read (line 3): the job format it was "
            "given may have been ignored; check the HylaFAX client version",
        ),
        ("", "faxstat printed nothing: is the fax server up?"),
    ],
)
def test_garbled_faxstat_output_is_a_fax_error(hylafax: StandIns, stdout: str, message: str) -> None:
    hylafax.answer("faxstat", stdout=stdout)
    with pytest.raises(FaxError) as error:
        HylaFaxProvider().status(_queued())
    assert str(error.value) == message


def test_a_missing_command_says_to_install_the_hylafax_client(
    hylafax: StandIns, packet: Path, tmp_path: Path
) -> None:
    missing = str(tmp_path / "nowhere" / "faxstat")
    with pytest.raises(FaxError) as error:
        HylaFaxProvider(faxstat=missing).send(packet, NUMBER, KEY)
    assert str(error.value) == (
        f"faxstat ({missing!r}) was not found: install the HylaFAX client (Debian package "
        "hylafax-client) or give its path (faxstat=...)"
    )
    assert error.value.permanent


def test_a_command_that_hangs_is_a_transient_error(hylafax: StandIns) -> None:
    hylafax.answer("faxstat", sleep=5)
    with pytest.raises(FaxError) as error:
        HylaFaxProvider(timeout=0.3).status(_queued())
    assert str(error.value) == "faxstat did not finish within 0.3 s: is the fax server up?"
    assert not error.value.permanent


def test_a_bad_number_runs_no_command(hylafax: StandIns, packet: Path) -> None:
    with pytest.raises(FaxError, match="7 to 15 digits") as error:
        HylaFaxProvider().send(packet, "555-01", KEY)
    assert error.value.permanent and hylafax.calls() == []


# Spool


@pytest.fixture
def spool(tmp_path: Path) -> SpoolProvider:
    return SpoolProvider(tmp_path / "spool")


def _serve(spool: SpoolProvider, key: str, to: str, result: str | None = None) -> None:
    """Move a job as a fax server would: the ticket first, then the document (result file before)."""
    before = spool.spool_dir / "outgoing" if to == "sending" else spool.spool_dir / "sending"
    (spool.spool_dir / to).mkdir(exist_ok=True)
    if result is not None:
        (spool.spool_dir / to / f"{key}.result.json").write_text(result)
    for name in (f"{key}.json", f"{key}.tif"):
        os.replace(before / name, spool.spool_dir / to / name)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_spool_send_writes_the_document_and_its_ticket_privately(spool: SpoolProvider, packet: Path) -> None:
    job = spool.send(packet, "+1 555 0100", KEY)
    assert job == FaxJob("spool", KEY, KEY, NUMBER, "queued")
    outgoing = spool.spool_dir / "outgoing"
    assert sorted(path.name for path in outgoing.iterdir()) == [f"{KEY}.json", f"{KEY}.tif"]
    assert (outgoing / f"{KEY}.tif").read_bytes() == packet.read_bytes()
    ticket = json.loads((outgoing / f"{KEY}.json").read_text())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ticket.pop("queued_at"))
    assert ticket == {"to": NUMBER, "key": KEY, "file": f"{KEY}.tif", "pages": None}
    assert [_mode(path) for path in outgoing.iterdir()] == [0o600, 0o600]
    assert (_mode(spool.spool_dir), _mode(outgoing)) == (0o700, 0o700)


def test_a_watcher_never_sees_a_ticket_without_its_whole_document(
    spool: SpoolProvider, packet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    replace = os.replace

    def watch(source: Any, target: Any) -> None:  # what `ls outgoing` shows around each rename
        seen.append(sorted(path.name for path in Path(target).parent.iterdir()))
        replace(source, target)
        seen.append(sorted(path.name for path in Path(target).parent.iterdir()))

    monkeypatch.setattr(os, "replace", watch)
    spool.send(packet, NUMBER, KEY)
    shown = [[name for name in names if not name.startswith(".")] for names in seen]
    assert shown == [[], [f"{KEY}.tif"], [f"{KEY}.tif"], [f"{KEY}.json", f"{KEY}.tif"]]
    assert all(not name.endswith(".json") for names in seen for name in names if name.startswith("."))


def test_spool_pages_are_counted_when_the_document_opens(spool: SpoolProvider, tmp_path: Path) -> None:
    from PIL import Image
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(2):
        writer.add_blank_page(612, 792)
    writer.write(tmp_path / "packet.pdf")
    pages = [Image.new("1", (64, 64), 1) for _ in range(3)]
    pages[0].save(tmp_path / "scan.tif", save_all=True, append_images=pages[1:])
    assert spool.send(tmp_path / "packet.pdf", NUMBER, "pdf-1").pages_total == 2
    assert json.loads((spool.spool_dir / "outgoing" / "pdf-1.json").read_text())["file"] == "pdf-1.pdf"
    assert spool.send(tmp_path / "scan.tif", NUMBER, "tif-1").pages_total == 3


@pytest.mark.parametrize(
    ("folder", "result", "state", "reason", "sent", "attempts"),
    [
        ("sending", None, "sending", "", None, 0),
        (
            "done",
            '{"state": "delivered", "reason": "", "pages_sent": 2, "attempts": 1}',
            "delivered",
            "",
            2,
            1,
        ),
        (
            "failed",
            '{"state": "failed", "reason": "No answer", "pages_sent": 0, "attempts": 3}',
            "failed",
            "No answer",
            0,
            3,
        ),
        ("failed", None, "failed", "the fax server gave no reason", None, 0),
    ],
)
def test_each_spool_folder_is_a_state(
    spool: SpoolProvider,
    packet: Path,
    folder: str,
    result: str | None,
    state: str,
    reason: str,
    sent: int | None,
    attempts: int,
) -> None:
    job = spool.send(packet, NUMBER, KEY)
    assert spool.status(job) == job
    _serve(spool, KEY, "sending")
    if folder != "sending":
        _serve(spool, KEY, folder, result)
    now = spool.status(job)
    assert now == FaxJob("spool", KEY, KEY, NUMBER, state, reason, pages_sent=sent, attempts=attempts)


def test_spool_cancel_moves_a_queued_job_to_cancelled(spool: SpoolProvider, packet: Path) -> None:
    job = spool.cancel(spool.send(packet, NUMBER, KEY))
    assert job.state == "cancelled"
    assert list((spool.spool_dir / "outgoing").iterdir()) == []
    cancelled = spool.spool_dir / "cancelled"
    assert sorted(path.name for path in cancelled.iterdir()) == [f"{KEY}.json", f"{KEY}.tif"]
    assert _mode(cancelled) == 0o700
    assert spool.status(job).state == "cancelled"


def test_a_job_being_sent_cannot_be_cancelled(spool: SpoolProvider, packet: Path) -> None:
    job = spool.send(packet, NUMBER, KEY)
    _serve(spool, KEY, "sending")
    with pytest.raises(FaxError) as error:
        spool.cancel(job)
    assert str(error.value) == "the fax is already being sent and can no longer be cancelled"
    assert error.value.permanent
    assert spool.status(job).state == "sending"


def test_spool_cancel_returns_a_finished_job_unchanged(spool: SpoolProvider, packet: Path) -> None:
    job = spool.send(packet, NUMBER, KEY)
    _serve(spool, KEY, "sending")
    _serve(spool, KEY, "done", '{"state": "delivered", "pages_sent": 2, "attempts": 1}')
    assert spool.cancel(job) == FaxJob("spool", KEY, KEY, NUMBER, "delivered", pages_sent=2, attempts=1)
    assert not (spool.spool_dir / "cancelled" / f"{KEY}.json").exists()


def test_the_same_key_is_never_written_twice(spool: SpoolProvider, packet: Path, tmp_path: Path) -> None:
    job = spool.send(packet, NUMBER, KEY)
    ticket = spool.spool_dir / "outgoing" / f"{KEY}.json"
    written = ticket.stat().st_mtime_ns
    other = tmp_path / "other.pdf"
    other.write_bytes(b"%PDF-1.4\n")
    assert spool.send(other, "+15550199", KEY) == job  # the job made then, number and all
    assert ticket.stat().st_mtime_ns == written
    _serve(spool, KEY, "sending")
    assert spool.send(other, NUMBER, KEY) == job.moved("sending")
    assert list((spool.spool_dir / "outgoing").iterdir()) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"state": "failed", "reason": "Busy',
            " is not a readable JSON object: the fax server must write it whole",
        ),
        ('["failed"]', " is not a readable JSON object: the fax server must write it whole"),
        ('{"state": "delivered"}', ": its 'state' does not match its folder, failed/"),
        ('{"state": "failed", "reason": 17}', ": 'reason' must be text"),
        ('{"state": "failed", "attempts": "two"}', ": 'attempts' must be a whole number or null"),
    ],
)
def test_a_malformed_result_file_is_a_fax_error_naming_it(
    spool: SpoolProvider, packet: Path, text: str, message: str
) -> None:
    job = spool.send(packet, NUMBER, KEY)
    _serve(spool, KEY, "sending")
    _serve(spool, KEY, "failed", text)
    with pytest.raises(FaxError) as error:
        spool.status(job)
    assert str(error.value) == f"{spool.spool_dir / 'failed' / f'{KEY}.result.json'}{message}"
    assert error.value.permanent


def test_a_job_gone_from_the_spool_has_failed(spool: SpoolProvider, packet: Path) -> None:
    job = spool.send(packet, NUMBER, KEY)
    for path in (spool.spool_dir / "outgoing").iterdir():
        path.unlink()
    assert (spool.status(job).state, spool.status(job).reason) == (
        "failed",
        "the fax spool no longer holds this job",
    )


def test_a_spool_key_cannot_end_like_a_result_file(spool: SpoolProvider, packet: Path) -> None:
    with pytest.raises(FaxError, match=r"^a fax spool's idempotency key cannot end in '\.result'$"):
        spool.send(packet, NUMBER, "PA-7KQ2M9XD.result")
