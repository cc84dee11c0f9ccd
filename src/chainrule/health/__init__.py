"""Why isn't it learning? The health monitor during training, the diagnosis after it, the
learning-rate range test, and the reports and plots a run prints and draws."""

from .monitor import Check, HealthMonitor, LayerHealth, layer_health

__all__ = ["Check", "HealthMonitor", "LayerHealth", "layer_health"]
