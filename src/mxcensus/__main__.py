from mxcensus.cli import main

main()
