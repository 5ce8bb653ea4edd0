"""Plain reference implementations and measuring tools that tests and benchmarks compare the
package against; they are not shipped with it."""
