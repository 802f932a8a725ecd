"""The QLQ-GI.NET21 scale scores of the configured map, stored on save (one JSON field: the map is
configuration data, so its scales need no column each). Forms saved before stay None ("never
scored") until ``manage.py backfill_derived_values`` scores them: with the shipped map still empty
there is nothing to compute, so no data migration rewrites every form here.
"""

import django.core.serializers.json
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crf', '0014_recode_primary_site_colorectum'),
    ]

    operations = [
        migrations.AddField(
            model_name='historicalqualityoflife',
            name='ginet21_scores',
            field=models.JSONField(blank=True, editable=False, encoder=django.core.serializers.json.DjangoJSONEncoder, null=True, verbose_name='QLQ-GI.NET21 scale scores'),
        ),
        migrations.AddField(
            model_name='qualityoflife',
            name='ginet21_scores',
            field=models.JSONField(blank=True, editable=False, encoder=django.core.serializers.json.DjangoJSONEncoder, null=True, verbose_name='QLQ-GI.NET21 scale scores'),
        ),
    ]
