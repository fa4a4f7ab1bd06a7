"""The results' pages, one module per part; importing this registers their routes."""

import portal.results.appeal_views
import portal.results.decision_views
import portal.results.public_views
import portal.results.publish_views  # noqa: F401
