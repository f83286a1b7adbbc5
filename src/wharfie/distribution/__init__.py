"""The registry client: references, token and basic auth, resolve, fetch, push, mirrors."""
