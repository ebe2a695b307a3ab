from visiontk.cli.main import main

main()
