from podpipe_cli.main import main

main()
