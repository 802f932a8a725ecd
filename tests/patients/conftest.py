import pytest

from tests.patients.factories import ConsentDocumentFactory


@pytest.fixture
def consent_doc(db):
    return ConsentDocumentFactory()


from tests.randomisation.conftest import blocks_design  # noqa: E402,F401 - shared with randomisation tests
