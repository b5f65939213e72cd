"""One router per area; each route declares the service action it performs (`x-permission`)."""
