"""Server-rendered browser pages, over the same services as the API."""
