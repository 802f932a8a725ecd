import pytest

from tests.patients.factories import ConsentDocumentFactory


@pytest.fixture
def consent_doc(db):
    return ConsentDocumentFactory()
