"""Domain event: a patient's registration data was corrected.

Sent inside the correcting transaction with ``sender=Patient`` and kwargs ``patient``, ``changes``
({field: (old, new)}), ``actor`` and ``reason``. The visit schedule and the CRFs that show the
registration dates (crf) listen: patients sits below crf in the dependency order, so it announces
the fact instead of calling upward (as randomisation.signals does). Receivers run in the same
transaction; if one fails, nothing is corrected.
"""

from django.dispatch import Signal

registration_corrected = Signal()
