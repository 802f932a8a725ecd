"""Domain event: a patient was randomised.

Sent inside the randomisation transaction with ``sender=Allocation`` and kwargs ``allocation`` and
``actor``. The visit schedule (crf) listens to create the patient's visits: randomisation sits below
crf in the dependency order, so it announces the fact instead of calling upward. Receivers run in
the same transaction; if one fails, nothing is allocated.
"""

from django.dispatch import Signal

patient_randomised = Signal()
