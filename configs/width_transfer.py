"""Does the best learning rate survive a wider LSTM? Width transfer and the coordinate check.

  python -m experiments.width_transfer --config=configs/width_transfer.py
  python -m experiments.width_transfer --config=configs/width_transfer.py --config.scale=paper
  python -m experiments.coord_check --config=configs/width_transfer.py

Keras', PyTorch's and flax.linen's default initializations against the
maximal-update LSTM (`mup` preset: the tool's extension of Tensor Programs V to
the LSTM), with a zero initial state ("mup") and with a learned one whose
learning rate is scaled by base_width / H ("mup_learned_width"), on the adding
problem under Adam with no gradient clipping (a clip would act differently at
each width). Every condition x width trains every learning rate of the grid
with the same seeds; `width_transfer.*` and `coord_check.*` are read by the two
studies only.

scale="cpu" (the default): widths 32 to 256, 7 learning rates, 4 seeds, 300
steps of batch 32, T = 20 (735 s on 2 shared cores, docs/findings/width.md).
scale="paper": widths 128 to 4096, 10 learning rates, 8 seeds, 5,000 steps,
T = 100 (a GPU's budget).
"""

import ml_collections

from lstm_init.engine.spec import base_config


def get_config():
  c = base_config()
  c.name = "width_transfer"
  c.scale = "cpu"
  c.num_seeds = 4
  c.report = False                 # the studies write their own pages
  c.task.name = "adding"
  c.task.length = 20
  c.model.hidden_size = 32         # each condition sets its width
  c.train.steps = 300
  c.train.batch_size = 32
  c.train.log_every = 100
  c.train.clip_norm = 0.0
  c.train.learning_rate = 1e-2     # the coordinate check's (the width study sweeps its own)
  c.train.base_width = 32          # muP: the width whose multipliers are 1
  c.width_transfer = ml_collections.ConfigDict()
  c.width_transfer.conditions = "keras,pytorch,flax_linen,mup,mup_learned_width"
  c.width_transfer.widths = "32,64,128,256"
  c.width_transfer.learning_rates = "0.001,0.002,0.004,0.008,0.016,0.032,0.064"
  c.width_transfer.num_bootstrap = 2000
  c.coord_check = ml_collections.ConfigDict()
  c.coord_check.conditions = "keras,pytorch,flax_linen,mup,mup_learned_width"
  c.coord_check.widths = "32,64,128,256,512,1024"
  c.coord_check.seeds = 4
  c.coord_check.positions = "1,2,10,-1"   # 1-based positions in the sequence; -1 = the last
  c.scales = ml_collections.ConfigDict({
      "cpu": {},
      "paper": {"num_seeds": 8, "task": {"length": 100}, "train": {"steps": 5000,
                                                                     "log_every": 500},
                "width_transfer": {"widths": "128,256,512,1024,2048,4096",
                                   "learning_rates": "0.0001,0.0002,0.0004,0.0008,0.0016,"
                                                     "0.0032,0.0064,0.0128,0.0256,0.0512"},
                "coord_check": {"widths": "128,256,512,1024,2048,4096"}},
  })
  return c
