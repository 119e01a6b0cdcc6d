"""deskbot knowledge package."""

from pathlib import Path

# The knowledge base shipped with deskbot, imported on a fresh install so suggestions work out of the box.
STARTER_DIR = Path(__file__).with_name("starter")
