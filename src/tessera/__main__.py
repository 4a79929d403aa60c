from tessera.main.cli import main

main()
