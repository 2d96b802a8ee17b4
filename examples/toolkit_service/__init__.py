"""An example service (``orders``) and the tests its author would write with pysoa_like's test toolkit."""
