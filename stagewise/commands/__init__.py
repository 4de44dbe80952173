"""The study commands of `stagewise` (each module: `register(app)`): they load a study config and run its steps
through `stagewise.run`. Commands that need no study live with their part (`stagewise.evaluate.cli`:
`data inspect`)."""
