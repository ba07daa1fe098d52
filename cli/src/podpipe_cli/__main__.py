from podpipe.cli.main import main

main()
