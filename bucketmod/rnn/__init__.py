"""`mx.rnn`: recurrent cells, bucketed sentence iterators, RNN checkpoints, bucket planning."""
from .bucket_planner import padding_waste, plan_buckets
from .checkpoint import do_rnn_checkpoint, load_rnn_checkpoint, save_rnn_checkpoint
from .io import BucketSentenceIter, encode_sentences
from .rnn_cell import (
                       BaseRNNCell,
                       BidirectionalCell,
                       DropoutCell,
                       FusedRNNCell,
                       GRUCell,
                       LSTMCell,
                       ModifierCell,
                       ResidualCell,
                       RNNCell,
                       RNNParams,
                       SequentialRNNCell,
                       ZoneoutCell,
)
