"""The ``oms`` app's admin: imports the sub-packages' admin modules, which register their pages."""

import oms.api.admin  # noqa: F401
import oms.webhooks.admin  # noqa: F401
