"""HTTP controllers, grouped by domain. Each is thin: parse, call the domain, return a Struct."""
