"""`mx.optimizer`: MXNet 1.9.1's optimizers and the Updater that applies them."""
from .optimizer import (
                        DCASGD,
                        FTML,
                        NAG,
                        SGD,
                        SGLD,
                        AdaDelta,
                        AdaGrad,
                        Adam,
                        Adamax,
                        Ftrl,
                        Nadam,
                        Optimizer,
                        RMSProp,
                        Signum,
                        Test,
                        ccSGD,
                        create,
                        register,
)
from .updater import Updater, get_updater
