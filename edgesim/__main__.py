from edgesim.cli.app import main

main()
