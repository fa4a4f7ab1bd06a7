"""The funded actions' pages, one module per part; importing this registers their routes."""

import portal.actions.action_views
import portal.actions.dashboard_views
import portal.actions.report_views  # noqa: F401
