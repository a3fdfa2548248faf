"""`mx.mod`: Module and the module types layered on it."""
from .base_module import BaseModule
from .module import Module
from .bucketing_module import BucketingModule
from .python_module import PythonModule, PythonLossModule
from .sequential_module import SequentialModule
