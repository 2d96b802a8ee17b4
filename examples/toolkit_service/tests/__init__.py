"""Tests of the orders example service, written as its author would write them."""
