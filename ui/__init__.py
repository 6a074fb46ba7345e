"""The web UI's files (templates, static assets, vendored browser libraries), installed as
the `ui` package so a wheel carries them; the code is in `services/gateway/ui/`."""

from pathlib import Path

UI_DIR = Path(__file__).resolve().parent
