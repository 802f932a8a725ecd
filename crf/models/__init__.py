from .base import CrfForm, FormStatus
from .casebook import Casebook
from .dataset_lock import DatasetLock
from .forms import (
    BiomarkerSample,
    ConcomitantMedication,
    Demographics,
    EndOfStudy,
    FollowUp,
    Histopathology,
    Imaging,
    Laboratory,
    LiverResection,
    LutatheraDosing,
    MedicalHistory,
    Pregnancy,
    ProtocolDeviation,
    QualityOfLife,
    Recurrence,
)
from .queries import Query, QueryMessage
from .reference_ranges import LabReferenceRange
from .reminders import VisitReminder
from .visits import FormNotDone, Visit

__all__ = [
    "BiomarkerSample",
    "Casebook",
    "ConcomitantMedication",
    "CrfForm",
    "DatasetLock",
    "Demographics",
    "EndOfStudy",
    "FollowUp",
    "FormNotDone",
    "FormStatus",
    "Histopathology",
    "Imaging",
    "LabReferenceRange",
    "Laboratory",
    "LiverResection",
    "LutatheraDosing",
    "MedicalHistory",
    "Pregnancy",
    "ProtocolDeviation",
    "QualityOfLife",
    "Query",
    "QueryMessage",
    "Recurrence",
    "Visit",
    "VisitReminder",
]
