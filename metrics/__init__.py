"""`/metrics` for Prometheus (Cockpit): request rates and latencies per view, events and refusals
per organization and region, and what the database holds (alerts, e-mails, the task queue,
exports, replica lag).

prometheus-client directly rather than django-prometheus: we need a handful of metrics of our
own (events and refusals per organization, the queue's age, exports) that django-prometheus does
not have, a collector over our own tables, and our own guard on the endpoint (its view is
open). Its per-view middleware is the one piece we would use, and it is a dozen lines here
(metrics.middleware), without the database, model and cache wrappers it adds to get the rest
(each a backend or model mixin to install). Multi-process gunicorn is prometheus-client's multiprocess mode
either way (config/gunicorn.py).
"""
