"""The Scaleway-compatible API, on top of the apps: errors in Scaleway's shapes, authentication
and rate limits (`api.http`), the endpoints of the trail (`api.audit_trail`), of IAM (`api.iam`)
and of alerting (`api.alerts`), their routes (`api.urls`), the OpenAPI document (`api.openapi`),
and the 503 answer when the database cannot serve (`api.faults`). No app imports this package.
"""
