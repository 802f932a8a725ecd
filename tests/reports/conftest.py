from tests.randomisation.conftest import blocks_design, make_patient

__all__ = ["blocks_design", "make_patient"]
