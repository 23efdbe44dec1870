"""What runs, decided before anything runs: the schema, axes, seeds, schedules, the plan.

  from lstm_init.engine.spec import base_config    # what every config file starts from
"""

from lstm_init.engine.spec.schema import base_config

__all__ = ["base_config"]
