from realimpact.cli import main

main()
