"""zart benchmarks: each prints its figures next to the raw PostgreSQL limit measured in the
same run. They print numbers; they never fail a test on a timing."""
