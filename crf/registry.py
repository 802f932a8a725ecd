"""All CRF models by form code, so the workflow, pages and exports handle any form alike."""

FORMS: dict = {}


def register(model):
    if model.FORM_CODE in FORMS:
        raise ValueError(f"Form code {model.FORM_CODE} is registered twice")
    FORMS[model.FORM_CODE] = model
    return model
