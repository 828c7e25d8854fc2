from __future__ import annotations

from django.dispatch import Signal

# Sent when a signed-in principal is refused an action (console or API). Receivers (the audit
# trail) record the refusal; iam itself knows nothing about who listens.
# kwargs: request, organization, action, product_name, service_name, method_name, locality, resources
access_denied = Signal()
