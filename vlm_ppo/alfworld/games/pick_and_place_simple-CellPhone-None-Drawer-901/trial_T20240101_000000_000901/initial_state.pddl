
(define (problem plan_trial_T20240101_000000_000901)
(:domain alfred)
(:objects
agent1 - agent
        AlarmClock - object
        Apple - object
        BaseballBat - object
        BasketBall - object
        Bathtub - object
        Blinds - object
        Book - object
        Boots - object
        Bowl - object
        Box - object
        Bread - object
        ButterKnife - object
        CD - object
        Candle - object
        CellPhone - object
        Chair - object
        Cloth - object
        CreditCard - object
        Cup - object
        Curtains - object
        DeskLamp - object
        DishSponge - object
        Egg - object
        FloorLamp - object
        Footstool - object
        Fork - object
        Glassbottle - object
        HandTowel - object
        HousePlant - object
        Kettle - object
        KeyChain - object
        Knife - object
        Ladle - object
        Laptop - object
        LaundryHamperLid - object
        Lettuce - object
        LightSwitch - object
        Mirror - object
        Mug - object
        Newspaper - object
        Painting - object
        Pan - object
        PaperTowel - object
        PaperTowelRoll - object
        Pen - object
        Pencil - object
        PepperShaker - object
        Pillow - object
        Plate - object
        Plunger - object
        Poster - object
        Pot - object
        Potato - object
        RemoteControl - object
        SaltShaker - object
        ScrubBrush - object
        ShowerDoor - object
        ShowerGlass - object
        Sink - object
        SoapBar - object
        SoapBottle - object
        Spatula - object
        Spoon - object
        SprayBottle - object
        Statue - object
        StoveKnob - object
        TeddyBear - object
        Television - object
        TennisRacket - object
        TissueBox - object
        ToiletPaper - object
        ToiletPaperRoll - object
        Tomato - object
        Towel - object
        Vase - object
        Watch - object
        WateringCan - object
        Window - object
        WineBottle - object
        AlarmClockType - otype
        AppleType - otype
        BaseballBatType - otype
        BasketBallType - otype
        BathtubType - otype
        BlindsType - otype
        BookType - otype
        BootsType - otype
        BowlType - otype
        BoxType - otype
        BreadType - otype
        ButterKnifeType - otype
        CDType - otype
        CandleType - otype
        CellPhoneType - otype
        ChairType - otype
        ClothType - otype
        CreditCardType - otype
        CupType - otype
        CurtainsType - otype
        DeskLampType - otype
        DishSpongeType - otype
        EggType - otype
        FloorLampType - otype
        FootstoolType - otype
        ForkType - otype
        GlassbottleType - otype
        HandTowelType - otype
        HousePlantType - otype
        KettleType - otype
        KeyChainType - otype
        KnifeType - otype
        LadleType - otype
        LaptopType - otype
        LaundryHamperLidType - otype
        LettuceType - otype
        LightSwitchType - otype
        MirrorType - otype
        MugType - otype
        NewspaperType - otype
        PaintingType - otype
        PanType - otype
        PaperTowelType - otype
        PaperTowelRollType - otype
        PenType - otype
        PencilType - otype
        PepperShakerType - otype
        PillowType - otype
        PlateType - otype
        PlungerType - otype
        PosterType - otype
        PotType - otype
        PotatoType - otype
        RemoteControlType - otype
        SaltShakerType - otype
        ScrubBrushType - otype
        ShowerDoorType - otype
        ShowerGlassType - otype
        SinkType - otype
        SoapBarType - otype
        SoapBottleType - otype
        SpatulaType - otype
        SpoonType - otype
        SprayBottleType - otype
        StatueType - otype
        StoveKnobType - otype
        TeddyBearType - otype
        TelevisionType - otype
        TennisRacketType - otype
        TissueBoxType - otype
        ToiletPaperType - otype
        ToiletPaperRollType - otype
        TomatoType - otype
        TowelType - otype
        VaseType - otype
        WatchType - otype
        WateringCanType - otype
        WindowType - otype
        WineBottleType - otype
        ArmChairType - rtype
        BathtubBasinType - rtype
        BedType - rtype
        CabinetType - rtype
        CartType - rtype
        CoffeeMachineType - rtype
        CoffeeTableType - rtype
        CounterTopType - rtype
        DeskType - rtype
        DiningTableType - rtype
        DrawerType - rtype
        DresserType - rtype
        FridgeType - rtype
        GarbageCanType - rtype
        HandTowelHolderType - rtype
        LaundryHamperType - rtype
        MicrowaveType - rtype
        OttomanType - rtype
        PaintingHangerType - rtype
        SafeType - rtype
        ShelfType - rtype
        SideTableType - rtype
        SinkBasinType - rtype
        SofaType - rtype
        StoveBurnerType - rtype
        TVStandType - rtype
        ToasterType - rtype
        ToiletType - rtype
        ToiletPaperHangerType - rtype
        TowelHolderType - rtype
        Book_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10 - object
        CellPhone_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10 - object
        CreditCard_bar__plus_03_dot_10_bar__plus_00_dot_90_bar__minus_03_dot_10 - object
        Pencil_bar__plus_02_dot_20_bar__plus_00_dot_90_bar__minus_02_dot_20 - object
        Pillow_bar__plus_01_dot_20_bar__plus_00_dot_90_bar__minus_01_dot_20 - object
        Bed_bar__plus_01_dot_00_bar__plus_00_dot_00_bar__minus_01_dot_00 - receptacle
        Desk_bar__plus_02_dot_00_bar__plus_00_dot_00_bar__minus_02_dot_00 - receptacle
        Drawer_bar__plus_03_dot_00_bar__plus_00_dot_00_bar__minus_03_dot_00 - receptacle
        loc_bar_0_bar_0_bar_0_bar_30 - location
        loc_bar_2_bar__minus_2_bar_1_bar_30 - location
        loc_bar_4_bar__minus_4_bar_2_bar_30 - location
        loc_bar_6_bar__minus_6_bar_3_bar_30 - location
        )

(:init
        (receptacleType Bed_bar__plus_01_dot_00_bar__plus_00_dot_00_bar__minus_01_dot_00 BedType)
        (receptacleAtLocation Bed_bar__plus_01_dot_00_bar__plus_00_dot_00_bar__minus_01_dot_00 loc_bar_2_bar__minus_2_bar_1_bar_30)
        (objectType CellPhone_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10 CellPhoneType)
        (inReceptacle CellPhone_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10 Bed_bar__plus_01_dot_00_bar__plus_00_dot_00_bar__minus_01_dot_00)
        (objectAtLocation CellPhone_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10 loc_bar_2_bar__minus_2_bar_1_bar_30)
        (pickupable CellPhone_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10)
        (objectType Pillow_bar__plus_01_dot_20_bar__plus_00_dot_90_bar__minus_01_dot_20 PillowType)
        (inReceptacle Pillow_bar__plus_01_dot_20_bar__plus_00_dot_90_bar__minus_01_dot_20 Bed_bar__plus_01_dot_00_bar__plus_00_dot_00_bar__minus_01_dot_00)
        (objectAtLocation Pillow_bar__plus_01_dot_20_bar__plus_00_dot_90_bar__minus_01_dot_20 loc_bar_2_bar__minus_2_bar_1_bar_30)
        (pickupable Pillow_bar__plus_01_dot_20_bar__plus_00_dot_90_bar__minus_01_dot_20)
        (receptacleType Desk_bar__plus_02_dot_00_bar__plus_00_dot_00_bar__minus_02_dot_00 DeskType)
        (receptacleAtLocation Desk_bar__plus_02_dot_00_bar__plus_00_dot_00_bar__minus_02_dot_00 loc_bar_4_bar__minus_4_bar_2_bar_30)
        (objectType Book_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10 BookType)
        (inReceptacle Book_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10 Desk_bar__plus_02_dot_00_bar__plus_00_dot_00_bar__minus_02_dot_00)
        (objectAtLocation Book_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10 loc_bar_4_bar__minus_4_bar_2_bar_30)
        (pickupable Book_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10)
        (objectType Pencil_bar__plus_02_dot_20_bar__plus_00_dot_90_bar__minus_02_dot_20 PencilType)
        (inReceptacle Pencil_bar__plus_02_dot_20_bar__plus_00_dot_90_bar__minus_02_dot_20 Desk_bar__plus_02_dot_00_bar__plus_00_dot_00_bar__minus_02_dot_00)
        (objectAtLocation Pencil_bar__plus_02_dot_20_bar__plus_00_dot_90_bar__minus_02_dot_20 loc_bar_4_bar__minus_4_bar_2_bar_30)
        (pickupable Pencil_bar__plus_02_dot_20_bar__plus_00_dot_90_bar__minus_02_dot_20)
        (receptacleType Drawer_bar__plus_03_dot_00_bar__plus_00_dot_00_bar__minus_03_dot_00 DrawerType)
        (receptacleAtLocation Drawer_bar__plus_03_dot_00_bar__plus_00_dot_00_bar__minus_03_dot_00 loc_bar_6_bar__minus_6_bar_3_bar_30)
        (openable Drawer_bar__plus_03_dot_00_bar__plus_00_dot_00_bar__minus_03_dot_00)
        (objectType CreditCard_bar__plus_03_dot_10_bar__plus_00_dot_90_bar__minus_03_dot_10 CreditCardType)
        (inReceptacle CreditCard_bar__plus_03_dot_10_bar__plus_00_dot_90_bar__minus_03_dot_10 Drawer_bar__plus_03_dot_00_bar__plus_00_dot_00_bar__minus_03_dot_00)
        (objectAtLocation CreditCard_bar__plus_03_dot_10_bar__plus_00_dot_90_bar__minus_03_dot_10 loc_bar_6_bar__minus_6_bar_3_bar_30)
        (pickupable CreditCard_bar__plus_03_dot_10_bar__plus_00_dot_90_bar__minus_03_dot_10)
        (canContain BedType BookType)
        (canContain BedType CellPhoneType)
        (canContain BedType PillowType)
        (canContain DeskType BookType)
        (canContain DeskType CellPhoneType)
        (canContain DeskType CreditCardType)
        (canContain DeskType PencilType)
        (canContain DrawerType BookType)
        (canContain DrawerType CellPhoneType)
        (canContain DrawerType CreditCardType)
        (canContain DrawerType PencilType)
        (atLocation agent1 loc_bar_0_bar_0_bar_0_bar_30)
        )

        (:goal
            (and
                (exists (?r - receptacle)
                    (exists (?o - object)
                        (and
                            (inReceptacle ?o ?r)
                            (objectType ?o CellPhoneType)
                            (receptacleType ?r DrawerType)
                        )
                    )
                )
            )
        )
    )
    