from django.db import migrations, models


class Migration(migrations.Migration):
    """Regenerating a side before the vote: the count and the earlier answers on the answer, the fact on the vote."""

    dependencies = [
        ("arena", "0008_model_paused_until_tested"),
    ]

    operations = [
        migrations.AlterField(
            model_name="arenamodel",
            name="provider_model",
            field=models.CharField(
                blank=True, max_length=300, verbose_name="provider model id",
                help_text="The provider's id for the model (e.g. gpt-4o-mini, claude-sonnet-4-5), the checkpoint "
                "directory for a local model, or the persona (pelican, heron, ibis; echo repeats the prompt) for a "
                "demo model."),
        ),
        migrations.AddField(
            model_name="answer",
            name="regenerations",
            field=models.PositiveSmallIntegerField(
                default=0, help_text="How often the voter asked this side for a new answer before voting."),
        ),
        migrations.AddField(
            model_name="answer",
            name="earlier",
            field=models.JSONField(
                blank=True, default=list,
                help_text="The answers this side gave before being regenerated (text, finish reason, time): kept for "
                "review, never shown to voters again."),
        ),
        migrations.AddField(
            model_name="vote",
            name="regenerated",
            field=models.BooleanField(
                default=False, help_text="A side of the battle was regenerated before this vote (docs/leaderboard.md)."),
        ),
    ]
