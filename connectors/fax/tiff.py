"""Fax-ready output: a PDF made TIFF Class F with Debian's ghostscript.

    pages = to_fax_tiff(Path("packet.pdf"), Path("packet.tif"))

Class F is what fax servers send without converting: one bilevel (black and white) page per TIFF
frame, CCITT Group 4 compressed, 1728 pixels wide (the 215 mm scan line of ITU-T T.4) at 204 x 196
dpi ("fine" resolution). A letter page is 11 in tall, so 2156 lines; ghostscript fits each PDF
page into that box (a letter page's 8.5 in becomes 8.47 in, the width a fax line has).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from connectors.fax.base import FaxError

WIDTH, HEIGHT = 1728, 2156  # pixels: 8.47 x 11 in at 204 x 196 dpi
DPI = (204, 196)


def to_fax_tiff(pdf: Path, out: Path, *, gs: str = "gs", timeout: float = 300) -> int:
    """Write `pdf` as a TIFF Class F file at `out` (atomically); returns its page count.

    Raises FaxError naming ghostscript when it is missing or fails (never the document's text)."""
    program = shutil.which(gs)
    if program is None:
        raise FaxError(
            f"'{gs}' (ghostscript) is not installed: install Debian's ghostscript package", permanent=True
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out.parent, prefix=".fax-", suffix=".tif", delete=False) as temp:
        partial = Path(temp.name)
    try:
        command = [
            program,
            "-dSAFER",  # the PDF cannot read or write files beyond the two named here
            "-dBATCH",
            "-dNOPAUSE",
            "-dQUIET",
            "-sDEVICE=tiffg4",
            f"-r{DPI[0]}x{DPI[1]}",
            f"-g{WIDTH}x{HEIGHT}",
            "-dFIXEDMEDIA",
            "-dPDFFitPage",
            f"-sOutputFile={partial}",
            "--",
            str(pdf),
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise FaxError(f"ghostscript took longer than {timeout:.0f} s to make the fax TIFF") from None
        if done.returncode != 0:
            raise FaxError(
                f"ghostscript could not make the fax TIFF (exit status {done.returncode})", permanent=True
            )
        pages = check_fax_tiff(partial)
        partial.replace(out)
        return pages
    finally:
        partial.unlink(missing_ok=True)


def check_fax_tiff(path: Path) -> int:
    """The page count of a Class F TIFF; FaxError when it is not one (width, compression, depth)."""
    try:
        with Image.open(path) as image:
            frames = int(getattr(image, "n_frames", 1))
            for frame in range(frames):
                image.seek(frame)
                if image.mode != "1" or image.width != WIDTH or image.info.get("compression") != "group4":
                    raise FaxError(f"page {frame + 1} of the fax TIFF is not 1728-pixel G4 black and white")
    except (OSError, ValueError) as exc:
        raise FaxError(f"the fax TIFF cannot be read back ({type(exc).__name__})") from None
    return frames
